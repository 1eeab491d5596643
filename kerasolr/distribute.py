"""Choosing the `tf.distribute` strategy every fit runs under."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def get_strategy(tf_config: str | None = None) -> tf.distribute.Strategy:
    """Picks the strategy for this process.

    - `MultiWorkerMirroredStrategy` when `tf_config` (the `TF_CONFIG` JSON)
      names more than one worker;
    - `MirroredStrategy` when more than one GPU is visible;
    - otherwise the default strategy (CPU or one GPU).

    Args:
        tf_config: The `TF_CONFIG` JSON string, or `None`. Only the CLI reads
            the environment; library callers pass it explicitly.

    Returns:
        A `tf.distribute.Strategy`.
    """
    if tf_config:
        try:
            cluster = json.loads(tf_config).get("cluster", {})
        except json.JSONDecodeError as err:
            raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from None
        if len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def gpus_visible() -> bool:
    """Whether TensorFlow sees a GPU (the recipe's 16-bit default then applies)."""
    return bool(tf.config.list_logical_devices("GPU"))


def strategy_from_environment() -> tf.distribute.Strategy:
    """`get_strategy` with the process's `TF_CONFIG` (for the CLI and recipes)."""
    return get_strategy(os.environ.get("TF_CONFIG"))


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes the run directory: always, except on the
    non-chief workers of a `MultiWorkerMirroredStrategy` (the chief is task
    `chief`, or `worker` 0 when the cluster has no `chief`)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return (task_type == "worker" and task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


def barrier(strategy: tf.distribute.Strategy | None) -> None:
    """Waits until every worker of a multi-worker strategy reaches this point
    (an all-reduce of one number); returns at once otherwise."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    @tf.function
    def join():
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0))

    strategy.run(join)
