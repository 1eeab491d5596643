"""Random rectangle occlusion as pure, vectorised tensor functions.

Reference: paper section 3 and Fig. 2: one rectangle per image, height and
width each drawn from 33%-66% of the image side, at a random position.

The functions take their randomness as an explicit `(n, 5)` tensor of
uniforms in [0, 1), so they are deterministic and testable, and run inside a
compiled training step. `step_uniforms` draws those uniforms from a seed and a
step counter, for the *global* batch, and slices the current replica's part:
the same step under 1 or N replicas occludes every image identically.
"""

from __future__ import annotations

import math

import tensorflow as tf

NUM_UNIFORMS = 5  # top, left, height, width, apply-or-not


def side_range(size: int, min_frac: float, max_frac: float) -> tuple[int, int]:
    """The inclusive range of rectangle sides, in pixels, for an image side.

    Sides are whole pixels in `[ceil(min_frac * size), floor(max_frac * size)]`,
    so the covered fraction of each side never leaves `[min_frac, max_frac]`.
    At tiny sizes where that range is empty, the side nearest the middle
    fraction is used.
    """
    lo = math.ceil(min_frac * size - 1e-9)
    hi = math.floor(max_frac * size + 1e-9)
    if lo > hi:
        lo = hi = max(1, round(0.5 * (min_frac + max_frac) * size))
    return lo, hi


def rectangle_boxes(uniforms, height: int, width: int, min_frac: float, max_frac: float):
    """Maps uniforms to integer boxes.

    Args:
        uniforms: `(n, 5)` floats in [0, 1).
        height: Image height in pixels.
        width: Image width in pixels.
        min_frac: Smallest side as a fraction of the image side.
        max_frac: Largest side as a fraction of the image side.

    Returns:
        `(top, left, box_height, box_width)`, each an int32 `(n,)` tensor; the
        box always lies fully inside the image.
    """
    uniforms = tf.convert_to_tensor(uniforms, tf.float32)
    h_lo, h_hi = side_range(height, min_frac, max_frac)
    w_lo, w_hi = side_range(width, min_frac, max_frac)
    box_h = h_lo + tf.cast(tf.floor(uniforms[:, 2] * (h_hi - h_lo + 1)), tf.int32)
    box_w = w_lo + tf.cast(tf.floor(uniforms[:, 3] * (w_hi - w_lo + 1)), tf.int32)
    box_h = tf.minimum(box_h, h_hi)  # guards u == 1.0 after float rounding
    box_w = tf.minimum(box_w, w_hi)
    top = tf.cast(tf.floor(uniforms[:, 0] * tf.cast(height - box_h + 1, tf.float32)), tf.int32)
    left = tf.cast(tf.floor(uniforms[:, 1] * tf.cast(width - box_w + 1, tf.float32)), tf.int32)
    top = tf.minimum(top, height - box_h)
    left = tf.minimum(left, width - box_w)
    return top, left, box_h, box_w


def occlusion_masks(uniforms, height: int, width: int, min_frac: float = 0.33,
                    max_frac: float = 0.66, rate: float = 1.0):
    """Keep-masks: 0 inside each image's rectangle, 1 elsewhere.

    Args:
        uniforms: `(n, 5)` floats in [0, 1); column 4 decides whether the image
            is occluded at all (`u < rate`).
        height: Image height.
        width: Image width.
        min_frac: Smallest rectangle side fraction.
        max_frac: Largest rectangle side fraction.
        rate: Fraction of images that get a rectangle.

    Returns:
        `(n, height, width, 1)` float32 masks.
    """
    top, left, box_h, box_w = rectangle_boxes(uniforms, height, width, min_frac, max_frac)
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside_rows = (rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
    inside_cols = (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None])
    applied = (uniforms[:, 4] < rate)[:, None, None]
    covered = inside_rows & inside_cols & applied
    return 1.0 - tf.cast(covered, tf.float32)[..., None]


def occlude(images, uniforms, min_frac: float = 0.33, max_frac: float = 0.66,
            rate: float = 1.0, fill: float = 0.0):
    """Covers one random rectangle per image with a constant `fill` value.

    Args:
        images: `(n, height, width, channels)` floats.
        uniforms: `(n, 5)` floats in [0, 1) (see `occlusion_masks`).
        min_frac: Smallest rectangle side fraction.
        max_frac: Largest rectangle side fraction.
        rate: Fraction of images occluded.
        fill: Value written inside the rectangle (0 = black, as in Fig. 2).

    Returns:
        The occluded images, same shape and dtype.
    """
    images = tf.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    mask = tf.cast(occlusion_masks(uniforms, height, width, min_frac, max_frac, rate),
                   images.dtype)
    return images * mask + tf.cast(fill, images.dtype) * (1.0 - mask)


def step_uniforms(local_n, seed: int, step):
    """Uniforms for this replica's slice of the global batch at a given step.

    Draws `(local_n * num_replicas, 5)` uniforms from the stateless seed
    `(seed, step)` and returns rows `[replica_id * local_n, (replica_id+1) * local_n)`,
    matching how `tf.distribute` splits a global batch into contiguous slices.

    Args:
        local_n: Number of images on this replica (scalar int tensor or int).
        seed: Run seed.
        step: Step counter (e.g. `optimizer.iterations`).

    Returns:
        `(local_n, 5)` float32 uniforms.
    """
    ctx = tf.distribute.get_replica_context()
    num_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    replica_id = ctx.replica_id_in_sync_group if ctx is not None else 0
    local_n = tf.cast(local_n, tf.int32)
    replica_id = tf.cast(replica_id, tf.int32)
    stateless_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    everything = tf.random.stateless_uniform(
        tf.stack([local_n * num_replicas, NUM_UNIFORMS]), seed=stateless_seed)
    return everything[replica_id * local_n:(replica_id + 1) * local_n]
