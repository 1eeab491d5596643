"""OLR actually learns: a small synthfaces run, checked on its held-out split.

Every assertion here fails for an encoder whose slots do not belong to their
labels (e.g. slots permuted, or an untrained encoder), unlike range checks.
"""

import json

import numpy as np
import pytest

from kerasolr import config as cfg
from kerasolr import evaluate as sections
from kerasolr import run
from kerasolr.evaluation.slots import own_slot_margins, slot_label_auc_matrix
from kerasolr.rundir import RunDir

# About 2 minutes on 2 CPU cores: the demo preset (64 px synthfaces, its method and
# networks) on 4,000 training images, 3 classifier and 5 Siamese epochs, and eight
# labels no two of which correlate beyond |r| = 0.23 in the generator (pairs such as
# Male / Mustache, r = 0.44, need longer runs before each label's own slot beats its
# partner's). Measured here: slot-norm AUC 0.946, smallest own-slot margin 0.134,
# probe 0.926 against a majority baseline of 0.727.
LABELS = ["Male", "Young", "Smiling", "Eyeglasses", "Wearing_Hat", "Blond_Hair", "Narrow_Eyes",
          "Chubby"]
SETTINGS = [f"data.attributes={json.dumps(LABELS)}", "data.num_train=4000", "data.num_test=600",
            "data.num_val=600",
            "classifier.epochs=3", "siamese.epochs=5"]


def assert_olr_learned(embeddings, truth, train_embeddings, train_labels, names, probe):
    """The checks of a run that learned (raises `AssertionError` otherwise)."""
    slots = sections.slot_metrics(embeddings, truth, names)
    assert slots["slots.norm_auc_mean"] >= 0.9, slots["slots.norm_auc_mean"]
    margins = own_slot_margins(slot_label_auc_matrix(embeddings, truth))
    known = ~np.isnan(margins)
    # Each label is told best by its own slot (the AUC matrix is diagonal-dominant).
    assert np.all(margins[known] > 0), dict(zip(np.array(names)[known], margins[known],
                                                strict=True))
    accuracy = sections.probe_metrics(train_embeddings, train_labels, embeddings, truth, names,
                                      probe, seed=0)["probe.mean_accuracy"]
    majority = sections.majority_metrics(train_labels, truth, names)["majority.mean_accuracy"]
    assert accuracy >= majority + 0.05, (accuracy, majority)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("learning") / "run")
    config = cfg.override(cfg.demo(), SETTINGS)
    run.train(config, run_dir)
    run.embed(run_dir)
    return RunDir(run_dir), config


@pytest.mark.slow
def test_olr_learns_per_label_slots(trained):
    rundir, config = trained
    test, train = rundir.load_embeddings("test"), rundir.load_embeddings("train")
    assert_olr_learned(test["embeddings"], test["clean_labels"], train["embeddings"],
                       train["labels"], rundir.label_names(), config.probe)


@pytest.mark.slow
def test_the_check_fails_when_two_slots_are_swapped(trained):
    # The same embeddings with two labels' slots exchanged: a bug that mixed up
    # which slot belongs to which label must not pass.
    rundir, config = trained
    test, train = rundir.load_embeddings("test"), rundir.load_embeddings("train")
    names = rundir.label_names()
    order = list(range(len(names)))
    order[0], order[1] = order[1], order[0]
    with pytest.raises(AssertionError):
        assert_olr_learned(test["embeddings"][:, order], test["clean_labels"],
                           train["embeddings"][:, order], train["labels"], names, config.probe)
