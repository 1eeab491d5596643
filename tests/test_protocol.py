"""The AttGAN / STGAN edit protocol on toy decoders and judges with known answers."""

import math

import numpy as np
import pytest

from kerasolr import editing
from kerasolr.evaluation import protocol

NAMES = ("Male", "Eyeglasses")


def _gaussians(counts=(5, 5)):
    # Slot vectors of one number: a present label's slot is exactly 1 (no spread).
    return editing.LabelGaussians(NAMES, np.ones((2, 1)), np.zeros((2, 1, 1)),
                                  np.asarray(counts))


def _decode(embeddings):
    """8x8 images: the left half shows slot 0, the right half slot 1 (clipped to [0, 1])."""
    values = np.clip(np.asarray(embeddings)[:, :, 0], 0.0, 1.0)
    images = np.zeros((len(values), 8, 8, 3), np.float32)
    images[:, :, :4] = values[:, 0, None, None, None]
    images[:, :, 4:] = values[:, 1, None, None, None]
    return images


def _judge(images):
    """Sees each half: the label is present when its half is brighter than 0.5."""
    images = np.asarray(images)
    return np.stack([images[:, 0, 0, 0], images[:, 0, 7, 0]], axis=1)


def _data(n=40, seed=0):
    truth = (np.random.default_rng(seed).random((n, 2)) < 0.4).astype(np.float32)
    return truth[:, :, None].copy(), truth        # the encoder put each label in its slot


def test_intensity_moves_the_slot_towards_the_target_and_beyond():
    embeddings = np.array([[[0.0], [0.7]], [[0.2], [0.9]]], np.float32)
    add = np.array([True, False])
    once = protocol.intensity_edit(embeddings, 0, add, _gaussians(), seed=0, intensity=1.0)
    twice = protocol.intensity_edit(embeddings, 0, add, _gaussians(), seed=0, intensity=2.0)
    np.testing.assert_allclose(once[:, 0, 0], [1.0, 0.0])          # the paper's edit
    np.testing.assert_allclose(twice[:, 0, 0], [2.0, -0.2])        # s + 2 (g - s)
    np.testing.assert_array_equal(once[:, 1], embeddings[:, 1])     # other slots untouched


def test_a_faithful_decoder_and_judge_score_every_flip():
    embeddings, truth = _data()
    r = protocol.flip_protocol(embeddings, truth, _decode, _judge, _gaussians(), seed=0,
                               filter_size=3)
    for intensity in ("1", "2"):
        assert r[f"flip.accuracy_i{intensity}_mean"] == 1.0
        assert r[f"flip.preservation_i{intensity}_mean"] == 1.0
        # Each edit turns one half from 0 to 1 or back: MSE 0.5, PSNR 10 log10(2).
        assert r[f"flip.psnr_i{intensity}_mean"] == pytest.approx(10 * math.log10(2))
        assert r[f"flip.ssim_i{intensity}_mean"] < 0.5
    assert r["flip.attgan13.labels"] == 2.0            # Male and Eyeglasses are of the 13
    assert r["flip.attgan13.accuracy_i1_mean"] == 1.0
    assert r["flip.num_images"] == 40 and r["flip.skipped_adds"] == 0


def test_a_judge_blind_to_one_label_scores_its_base_rate():
    embeddings, truth = _data()

    def half_blind(images):
        probs = _judge(images).copy()
        probs[:, 1] = 0.0                       # never sees Eyeglasses
        return probs

    r = protocol.flip_protocol(embeddings, truth, _decode, half_blind, _gaussians(), seed=0,
                               filter_size=3)
    # A flip is judged right only where Eyeglasses is removed: the images that had it.
    assert r["per_label.Eyeglasses.flip_accuracy_i1"] == pytest.approx(truth[:, 1].mean())
    assert r["per_label.Eyeglasses.flip_add_accuracy_i1"] == 0.0
    assert r["per_label.Eyeglasses.flip_remove_accuracy_i1"] == 1.0
    assert r["per_label.Male.flip_accuracy_i1"] == 1.0
    assert r["flip.accuracy_i1_mean"] == pytest.approx((1.0 + truth[:, 1].mean()) / 2)


def test_one_threshold_per_label_reaches_a_dim_judge():
    embeddings, truth = _data()

    def dim_on_eyeglasses(images):
        probs = _judge(images).copy()
        probs[:, 1] *= 0.3                      # sees Eyeglasses, but never above 0.3
        return probs

    at_half = protocol.flip_protocol(embeddings, truth, _decode, dim_on_eyeglasses,
                                     _gaussians(), seed=0, filter_size=3)
    per_label = protocol.flip_protocol(embeddings, truth, _decode, dim_on_eyeglasses,
                                       _gaussians(), seed=0, threshold=np.array([0.5, 0.15]),
                                       filter_size=3)
    assert at_half["per_label.Eyeglasses.flip_add_accuracy_i1"] == 0.0
    assert per_label["per_label.Eyeglasses.flip_accuracy_i1"] == 1.0
    assert per_label["flip.accuracy_i1_mean"] == 1.0
    assert per_label["flip.preservation_i1_mean"] == 1.0


def test_a_decoder_that_ignores_a_slot_preserves_pixels_and_fails_that_label():
    embeddings, truth = _data()

    def ignores_male(codes):
        codes = np.array(codes, copy=True)
        codes[:, 0] = 0.0
        return _decode(codes)

    r = protocol.flip_protocol(embeddings, truth, ignores_male, _judge, _gaussians(), seed=0,
                               filter_size=3)
    assert r["per_label.Male.flip_psnr_i1"] == protocol.MAX_PSNR       # nothing changed
    assert r["per_label.Male.flip_ssim_i1"] == pytest.approx(1.0)
    # Male always looks absent: only its removals (the images that had it) succeed.
    assert r["per_label.Male.flip_accuracy_i1"] == pytest.approx(truth[:, 0].mean())


def test_a_label_no_training_image_had_is_only_removed():
    embeddings, truth = _data()
    r = protocol.flip_protocol(embeddings, truth, _decode, _judge, _gaussians((5, 0)), seed=0,
                               filter_size=3)
    assert r["flip.skipped_adds"] == float((truth[:, 1] == 0).sum())
    assert r["per_label.Eyeglasses.flip_accuracy_i1"] == 1.0       # the removals alone
    assert math.isnan(r["per_label.Eyeglasses.flip_add_accuracy_i1"])


def _structured_labels(n=400, seed=0):
    """A and B never together; C always comes with D; E independent."""
    rng = np.random.default_rng(seed)
    hair = rng.integers(0, 3, n)                       # 0: A, 1: B, 2: neither
    c = rng.random(n) < 0.3
    d = c | (rng.random(n) < 0.3)
    e = rng.random(n) < 0.5
    return np.stack([hair == 0, hair == 1, c, d, e], axis=1).astype(np.float32)


def test_label_structure_finds_exclusions_and_implications():
    s = editing.label_structure(_structured_labels(), ("A", "B", "C", "D", "E"))
    assert set(s.pairs("excludes")) == {("A", "B"), ("B", "A")}
    assert s.pairs("implies") == [("C", "D")]
    rare = _structured_labels()
    rare[:, 2] = 0
    rare[:5, 2] = 1                                   # C in 5 images: too few to trust
    assert editing.label_structure(rare, "ABCDE").pairs("implies") == []


def test_structured_targets_follow_the_structure():
    s = editing.label_structure(_structured_labels(), ("A", "B", "C", "D", "E"))
    current = np.array([[0, 1, 0, 0, 1],      # has B: adding A removes B
                        [0, 0, 0, 0, 0],      # adding C adds D
                        [0, 0, 1, 1, 0]],     # removing D removes C
                       bool)
    np.testing.assert_array_equal(
        editing.structured_targets(current[:1], 0, [True], s), [[1, 0, 0, 0, 1]])
    np.testing.assert_array_equal(
        editing.structured_targets(current[1:2], 2, [True], s), [[0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(
        editing.structured_targets(current[2:], 3, [False], s), [[0, 0, 0, 0, 0]])
    # Removing A changes nothing else (nothing implies A).
    np.testing.assert_array_equal(
        editing.structured_targets([[1, 0, 0, 0, 0]], 0, [False], s), [[0, 0, 0, 0, 0]])


def test_set_labels_moves_only_the_changed_slots():
    names = ("A", "B", "C")
    g = editing.LabelGaussians(names, np.full((3, 1), 2.0), np.zeros((3, 1, 1)),
                               np.array([5, 5, 5]))
    embeddings = np.array([[[0.0], [1.5], [0.7]]], np.float32)
    out = editing.set_labels(embeddings, [[0, 1, 1]], [[1, 0, 1]], g, seed=0)
    np.testing.assert_allclose(out[0, :, 0], [2.0, 0.0, 0.7])
    twice = editing.set_labels(embeddings, [[0, 1, 1]], [[1, 0, 1]], g, seed=0, intensity=2.0)
    np.testing.assert_allclose(twice[0, :, 0], [4.0, -1.5, 0.7])


def test_structured_protocol_does_not_count_on_purpose_changes_against_preservation():
    names = ("A", "B")
    truth = np.array([[1, 0], [0, 1], [0, 0]] * 20, np.float32)     # A and B exclusive
    structure = editing.label_structure(truth, names)
    g = editing.LabelGaussians(names, np.ones((2, 1)), np.zeros((2, 1, 1)), np.array([20, 20]))
    embeddings = truth[:, :, None].copy()
    one_slot = protocol.flip_protocol(embeddings, truth, _decode, _judge, g, seed=0,
                                      filter_size=3)
    structured = protocol.flip_protocol(embeddings, truth, _decode, _judge, g, seed=0,
                                        filter_size=3, structure=structure,
                                        name="flip_structured")
    # Adding A to a B image: the one-slot edit leaves B (A and B both shown, B kept),
    # the structured edit removes B on purpose, so neither counts against it.
    assert structured["flip_structured.accuracy_i1_mean"] == 1.0
    assert structured["flip_structured.preservation_i1_mean"] == 1.0
    assert one_slot["flip.preservation_i1_mean"] == 1.0
    # A third of the flips (adding A to a B image, or B to an A image) also remove the other.
    assert structured["flip_structured.co_changed_mean"] == pytest.approx(1 / 3)
    assert "flip.co_changed_mean" not in one_slot


def test_context_effects_hold_the_other_label_fixed():
    # Slot 1 is 1 + 2 * label A + 3 * label B (k = 1): A moves B's slot by 2 whether B is
    # present or not; B's own presence (3) is not counted as A's effect.
    labels = np.array([[a, b] for a in (0, 1) for b in (0, 1)] * 25, np.float32)
    embeddings = np.zeros((len(labels), 2, 1), np.float32)
    embeddings[:, 1, 0] = 1 + 2 * labels[:, 0] + 3 * labels[:, 1]
    embeddings[:, 0, 0] = 5 * labels[:, 0]
    c = editing.fit_context_effects(embeddings, labels, ("A", "B"), chunk=7)
    np.testing.assert_allclose(c.effects[0, 1, :, 0], [2.0, 2.0])
    np.testing.assert_allclose(c.effects[0, 0], 0.0)            # a label's own slot: never
    np.testing.assert_allclose(c.effects[1, 0, :, 0], [0.0, 0.0])   # B does not move A's slot
    np.testing.assert_array_equal(c.counts[0, 1], [[25, 25], [25, 25]])
    # Fewer than min_count images behind a mean: no effect is trusted.
    few = editing.fit_context_effects(embeddings, labels, ("A", "B"), min_count=26)
    np.testing.assert_allclose(few.effects, 0.0)


def test_shift_context_moves_only_the_slots_the_edit_leaves_alone():
    effects = np.zeros((3, 3, 2, 1), np.float32)
    effects[0, 1] = [[2.0], [4.0]]          # A's effect on B's slot: 2 where B absent, 4 present
    effects[0, 2] = [[1.0], [1.0]]
    c = editing.ContextEffects(("A", "B", "C"), effects, np.zeros((3, 3, 2, 2), np.int64))
    embeddings = np.zeros((3, 3, 1), np.float32)
    current = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    target = np.array([[1, 1, 1],             # A added; C set on purpose (not shifted)
                       [0, 0, 0],             # A removed
                       [0, 0, 0]], bool)      # A unchanged: nothing moves
    out = editing.shift_context(embeddings, current, target, [0], c, intensity=2.0, scale=0.5)
    np.testing.assert_allclose(out[:, :, 0], [[0.0, 4.0, 0.0], [0.0, -2.0, -1.0], [0, 0, 0]])


def test_structured_protocol_with_context_effects():
    # k = 2. Label A lives partly in B's slot: slot A = (0.4 A, 0), slot B = (B, 0.6 A), and
    # the judge reads A as slot A's first value plus slot B's second (B as slot B's first).
    # An edit of slot A alone cannot flip the judge's A; moving B's slot by A's effect can.
    names = ("A", "B")
    truth = np.array([[a, b] for a in (0, 1) for b in (0, 1)] * 30, np.float32)
    embeddings = np.zeros((len(truth), 2, 2), np.float32)
    embeddings[:, 0, 0] = 0.4 * truth[:, 0]
    embeddings[:, 1, 0] = truth[:, 1]
    embeddings[:, 1, 1] = 0.6 * truth[:, 0]
    g = editing.LabelGaussians(names, np.array([[0.4, 0.0], [1.0, 0.3]]), np.zeros((2, 2, 2)),
                               np.array([60, 60]))
    structure = editing.label_structure(truth, names)

    def decode(codes):          # left half: slot A's two values; right half: slot B's
        codes = np.asarray(codes)
        images = np.zeros((len(codes), 8, 8, 3), np.float32)
        images[:, :, :4, :2] = codes[:, 0, None, None, :]
        images[:, :, 4:, :2] = codes[:, 1, None, None, :]
        return images

    def judge(images):
        images = np.asarray(images)
        return np.stack([images[:, 0, 0, 0] + images[:, 0, 7, 1], images[:, 0, 7, 0]], axis=1)

    context = editing.fit_context_effects(embeddings, truth, names)
    np.testing.assert_allclose(context.effects[0, 1], [[0.0, 0.6], [0.0, 0.6]], atol=1e-6)
    runs = {}
    for name, c in (("plain", None), ("shifted", context)):
        runs[name] = protocol.flip_protocol(embeddings, truth, decode, judge, g, seed=0,
                                            filter_size=3, structure=structure, name="s",
                                            intensities=(1.0,), context=c)
    # Adding A: 0.4 < 0.5 alone, 1.0 with B's slot moved; removing A: the leak of 0.6 stays
    # alone, goes with the shift.
    assert runs["plain"]["per_label.A.s_add_accuracy_i1"] == 0.0
    assert runs["plain"]["per_label.A.s_remove_accuracy_i1"] == 0.0
    assert runs["shifted"]["per_label.A.s_add_accuracy_i1"] == 1.0
    assert runs["shifted"]["per_label.A.s_remove_accuracy_i1"] == 1.0
    # B's edits are the same either way (B has no effect on A's slot here).
    assert (runs["plain"]["per_label.B.s_accuracy_i1"]
            == runs["shifted"]["per_label.B.s_accuracy_i1"])


def test_edit_structure_round_trips_through_its_file(tmp_path):
    labels = _structured_labels()
    names = ("A", "B", "C", "D", "E")
    embeddings = np.random.default_rng(0).normal(size=(len(labels), 5, 3)).astype(np.float32)
    structure = editing.label_structure(labels, names)
    context = editing.fit_context_effects(embeddings, labels, names)
    path = str(tmp_path / "edit_structure.npz")
    editing.save_edit_structure(path, structure, context)
    loaded_structure, loaded_context = editing.load_edit_structure(path)
    assert loaded_structure.names == names and loaded_context.names == names
    np.testing.assert_array_equal(loaded_structure.implies, structure.implies)
    np.testing.assert_array_equal(loaded_structure.excludes, structure.excludes)
    np.testing.assert_array_equal(loaded_context.effects, context.effects)
    np.testing.assert_array_equal(loaded_context.counts, context.counts)
    other = editing.ContextEffects(("a", "b", "c", "d", "e"), context.effects, context.counts)
    with pytest.raises(ValueError, match="are not the context effects'"):
        editing.save_edit_structure(str(tmp_path / "x.npz"), structure, other)
