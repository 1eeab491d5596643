import json
import os
import subprocess
import sys

import pytest

from kerasolr.distribute import get_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_two_cpu_replicas_give_the_same_update_as_one_device():
    # A real MirroredStrategy over two logical CPUs needs a fresh process.
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "replica_step.py")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for which in ("olr", "classifier"):
        # Without the 1/num_replicas scaling the 2-replica update would be twice as
        # large, a difference of max_update; the step must really move the weights.
        assert result[which]["max_update"] > 1e-2, result
        assert result[which]["max_diff"] < 1e-4 * max(1.0, result[which]["max_update"]), result


def test_default_strategy_on_one_device():
    strategy = get_strategy(None)
    assert strategy.num_replicas_in_sync == 1


def test_single_worker_tf_config_keeps_the_default_strategy():
    config = json.dumps({"cluster": {"worker": ["127.0.0.1:12345"]},
                         "task": {"type": "worker", "index": 0}})
    assert get_strategy(config).num_replicas_in_sync == 1


def test_bad_tf_config_is_a_clear_error():
    with pytest.raises(ValueError, match="TF_CONFIG"):
        get_strategy("{not json")
