import numpy as np
import pytest
import tensorflow as tf

from kerasolr import occlusion


@pytest.mark.parametrize("size", [16, 32, 64, 178])
def test_side_range_stays_within_bounds(size):
    lo, hi = occlusion.side_range(size, 0.33, 0.66)
    assert 0.33 * size <= lo <= hi <= 0.66 * size


def test_area_and_sides_within_paper_bounds():
    uniforms = tf.random.stateless_uniform((4000, 5), seed=(1, 2))
    masks = occlusion.occlusion_masks(uniforms, 64, 48).numpy()[..., 0]
    covered = 1.0 - masks
    area = covered.mean(axis=(1, 2))
    assert area.min() >= 0.33**2 and area.max() <= 0.66**2
    rows = covered.max(axis=2).sum(axis=1) / 64
    cols = covered.max(axis=1).sum(axis=1) / 48
    assert rows.min() >= 0.33 and rows.max() <= 0.66
    assert cols.min() >= 0.33 and cols.max() <= 0.66
    # One solid rectangle: covered pixels = height * width of its bounding box.
    np.testing.assert_allclose(covered.sum(axis=(1, 2)), rows * 64 * cols * 48)


def test_known_box_from_known_uniforms():
    # u = 0 everywhere: smallest box at the top-left corner, always applied.
    top, left, h, w = occlusion.rectangle_boxes(tf.zeros((1, 5)), 16, 16, 0.33, 0.66)
    assert (int(top[0]), int(left[0]), int(h[0]), int(w[0])) == (0, 0, 6, 6)
    # u -> 1: largest box at the bottom-right corner.
    top, left, h, w = occlusion.rectangle_boxes(tf.fill((1, 5), 0.999999), 16, 16, 0.33, 0.66)
    assert (int(top[0]), int(left[0]), int(h[0]), int(w[0])) == (6, 6, 10, 10)


def test_positions_cover_the_whole_image():
    uniforms = tf.random.stateless_uniform((4000, 5), seed=(3, 4))
    covered = 1.0 - occlusion.occlusion_masks(uniforms, 32, 32).numpy()[..., 0]
    assert covered.any(axis=0).all()  # every pixel is occluded by some rectangle
    top, left, h, w = occlusion.rectangle_boxes(uniforms, 32, 32, 0.33, 0.66)
    assert int(tf.reduce_min(top)) == 0 and int(tf.reduce_max(top + h)) == 32
    assert int(tf.reduce_min(left)) == 0 and int(tf.reduce_max(left + w)) == 32


def test_rate_controls_fraction_occluded():
    uniforms = tf.random.stateless_uniform((4000, 5), seed=(5, 6))
    masks = occlusion.occlusion_masks(uniforms, 16, 16, rate=0.25).numpy()
    occluded = (masks < 1).any(axis=(1, 2, 3))
    np.testing.assert_array_equal(occluded, uniforms.numpy()[:, 4] < 0.25)
    assert not (occlusion.occlusion_masks(uniforms, 16, 16, rate=0.0).numpy() < 1).any()


def test_occlude_fills_only_the_rectangle():
    images = tf.ones((3, 16, 16, 3))
    uniforms = tf.random.stateless_uniform((3, 5), seed=(7, 8))
    out = occlusion.occlude(images, uniforms, fill=0.25).numpy()
    mask = occlusion.occlusion_masks(uniforms, 16, 16).numpy()
    np.testing.assert_allclose(out, np.where(mask > 0, 1.0, 0.25) * np.ones((3, 16, 16, 3)))


def test_step_uniforms_are_seeded_and_step_dependent():
    a = occlusion.step_uniforms(8, seed=1, step=0).numpy()
    b = occlusion.step_uniforms(8, seed=1, step=0).numpy()
    c = occlusion.step_uniforms(8, seed=1, step=1).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (8, 5) and a.min() >= 0 and a.max() < 1


def test_occlusion_runs_in_a_compiled_function():
    fn = tf.function(lambda x, step: occlusion.occlude(
        x, occlusion.step_uniforms(tf.shape(x)[0], 0, step)), jit_compile=False)
    out = fn(tf.ones((4, 16, 16, 3)), tf.constant(3, tf.int64))
    assert out.shape == (4, 16, 16, 3) and float(tf.reduce_min(out)) == 0.0
