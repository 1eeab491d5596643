"""Face alignment measured with known answers (issue 16).

Each case takes a real aligned CelebA face (178 x 218), pastes it into a larger
canvas through a known similarity transform K (rotation, scale, shift drawn at
random), aligns the canvas with `kerasolr.align.align_face` (transform M), and
measures how far M(K(.)) is from the identity:
- landmark error: mean distance (aligned pixels) between the template points
  and their image through M(K(.));
- pixel error: mean absolute difference (0-255) over the models' square crop
  between the re-aligned face and the original, beside the same figure for
  the exact inverse K^-1 (the floor that two resamplings leave) and for the
  original shifted by one pixel (a yardstick of what a pixel of error costs).
It also re-aligns the original aligned images: the transform should be the
identity (its landmark error is reported the same way).

    python benchmarks/alignment.py [--root ../shared/data/celeba-178-train-4k] [--cases 300]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import numpy as np
from PIL import Image

from kerasolr import align

CANVAS = (420, 420)


def known_transform(rng) -> np.ndarray:
    degrees, scale = rng.uniform(-30, 30), rng.uniform(0.8, 1.6)
    return align.turning(degrees, (89.0, 109.0), scale,
                         np.array(CANVAS) / 2 + rng.uniform(-60, 60, size=2))


def point_error(matrix) -> float:
    return float(np.linalg.norm(align.apply(matrix, align.TEMPLATE) - align.TEMPLATE,
                                axis=1).mean())


def crop_mae(a, b) -> float:
    left, top, right, bottom = align.crop_box()
    return float(np.abs(a[top:bottom, left:right].astype(np.float64)
                        - b[top:bottom, left:right]).mean())


def measure(files, cases: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    points, pixels, floors, shifted, fails, again = [], [], [], [], 0, []
    start = time.time()
    for i in range(cases):
        original = np.asarray(Image.open(files[i % len(files)]).convert("RGB"))
        known = known_transform(rng)
        canvas = align.warp(original, known, CANVAS)
        try:
            found = align.align_face(canvas, name=files[i % len(files)])
        except align.AlignError:
            fails += 1
            continue
        points.append(point_error(align.compose(found.matrix, known)))
        pixels.append(crop_mae(found.image, original))
        floors.append(crop_mae(align.warp(canvas, align.invert(known), align.ALIGNED_SIZE),
                               original))
        one_pixel = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        shifted.append(crop_mae(align.warp(original, one_pixel, align.ALIGNED_SIZE), original))
        if i < 100:
            try:
                again.append(point_error(align.align_face(original).matrix))
            except align.AlignError:
                pass
    return {"cases": cases, "aligned": len(points), "no_face": fails,
            "landmark_error_px": float(np.mean(points)),
            "landmark_error_p95_px": float(np.percentile(points, 95)),
            "pixel_mae": float(np.mean(pixels)), "pixel_mae_floor": float(np.mean(floors)),
            "pixel_mae_of_a_1px_shift": float(np.mean(shifted)),
            "realign_identity_error_px": float(np.mean(again)), "realigned": len(again),
            "seconds_per_case": (time.time() - start) / cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data", "celeba-178-train-4k"))
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.root, "img_align_celeba", "*.jpg")))
    if not files:
        raise SystemExit(f"no images under {args.root}/img_align_celeba")
    for key, value in measure(files, args.cases).items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
