"""Decoder geometry: pure integer arithmetic, importable without TensorFlow
(the config validates it before the slow import)."""

from __future__ import annotations

MIN_START_SIZE = 2


def decoder_geometry(image_size: int, num_stages: int) -> tuple[int, int, int]:
    """Start size, `valid` stage and output size of a decoder for `image_size`.

    Each stage doubles the side (stride-2 transposed convolution); the `valid`
    3x3 convolution of one stage removes 2 pixels. With the `valid` one in
    stage `j` (1-based) of `u`, the output side is `2**(u-j) * (2**j * s0 - 2)`.
    The smallest `j` giving exactly `image_size - 2` with a start size
    `s0 >= 2` is chosen: 178 -> `s0 = 6`, `j = 2`, 176 (Table 1 exactly);
    64 with 5 stages -> `s0 = 2`, `j = 5`, 62. Sizes with no exact solution
    (e.g. odd ones) use `j = u` and the largest `s0` whose output fits; the
    target is then cropped centrally to the output (`crop_to`).

    Args:
        image_size: Side of the (square) images to reconstruct.
        num_stages: Number of upsampling stages.

    Returns:
        `(start_size, valid_stage, output_size)`.
    """
    target = image_size - 2
    for j in range(1, num_stages + 1):
        scale = 2 ** (num_stages - j)
        if target % scale:
            continue
        inner = target // scale + 2
        if inner % 2 ** j == 0 and inner // 2 ** j >= MIN_START_SIZE:
            return inner // 2 ** j, j, target
    start = (image_size + 2) // 2 ** num_stages
    if start < MIN_START_SIZE:
        raise ValueError(
            f"image_size={image_size} is too small for a decoder of {num_stages} stages: "
            f"use at most {max(1, (image_size + 2).bit_length() - 2)} stages")
    return start, num_stages, 2 ** num_stages * start - 2
