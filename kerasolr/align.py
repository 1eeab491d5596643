"""Aligning any face photo to the geometry of CelebA's aligned images, and pasting
an edited face back into the photo.

kerasolr's models are trained on CelebA's aligned set (178 x 218, eyes level at
fixed places) cropped and resized by `kerasolr.data.images.square_crop_resize`.
A photo of a face is brought to that geometry by a similarity transform
(rotation, uniform scale, shift) that puts its eye centres and mouth corners,
found by dlib's HOG face detector and its 68-point shape predictor (the
`face-recognition-models` package ships the model file; nothing is downloaded),
on `TEMPLATE`: where those points sit on average in the aligned CelebA images,
measured on 291 of `celeba-178-train-4k` with the same predictor (standard
deviation 1.2-1.6 px for the eyes, 1.6-3.3 px for the mouth corners).

    aligned = align_face(photo)              # AlignedFace: the 178 x 218 image, the transform
    ... edit crop_of(aligned, size) ...
    result = paste_back(photo, edited_crop, aligned)

Needs the `align` extra: `pip install "kerasolr[align]"` (dlib-bin, face-recognition-models).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from PIL import Image, ImageFilter

ALIGNED_SIZE = (178, 218)          # width, height of CelebA's aligned images
CROP_TOP = (ALIGNED_SIZE[1] - ALIGNED_SIZE[0]) // 2    # the square crop: rows 20-197
# Left eye centre, right eye centre, left and right mouth corner (x, y), in the
# 178 x 218 aligned frame ("left" = the image's left).
TEMPLATE = np.array([[69.37, 112.64], [107.62, 112.62], [71.09, 152.75], [105.87, 152.69]])
MIN_FACE = 40                      # smallest detected face side (pixels) accepted


class AlignError(ValueError):
    """No usable face (one line, naming the file when known)."""


@dataclasses.dataclass
class AlignedFace:
    """A face brought to the aligned-CelebA geometry.

    Attributes:
        image: `(218, 178, 3)` uint8.
        matrix: `(2, 3)` similarity transform from photo pixels to aligned pixels.
        points: `(4, 2)` the photo's eye centres and mouth corners.
        faces: How many faces the photo has.
    """

    image: np.ndarray
    matrix: np.ndarray
    points: np.ndarray
    faces: int


@functools.lru_cache(maxsize=1)
def _models():
    try:
        import dlib
        import face_recognition_models
    except ImportError:
        raise AlignError("face alignment needs the align extra: pip install "
                         "\"kerasolr[align]\" (dlib-bin, face-recognition-models)") from None
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    return dlib.get_frontal_face_detector(), predictor


def similarity(source, target) -> np.ndarray:
    """The `(2, 3)` rotation + uniform scale + shift (no reflection) that maps
    the `(n, 2)` `source` points closest to `target` in least squares."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mean_s, target - mean_t
    # In complex form the map is z -> c z + shift; c = sum(conj(s) t) / sum(|s|^2).
    zs, zt = s[:, 0] + 1j * s[:, 1], t[:, 0] + 1j * t[:, 1]
    c = np.sum(np.conj(zs) * zt) / np.sum(np.abs(zs) ** 2)
    rotation = np.array([[c.real, -c.imag], [c.imag, c.real]])
    return np.hstack([rotation, (mean_t - rotation @ mean_s)[:, None]])


def invert(matrix) -> np.ndarray:
    """The inverse of a `(2, 3)` affine transform."""
    linear = np.linalg.inv(np.asarray(matrix, np.float64)[:, :2])
    return np.hstack([linear, -linear @ np.asarray(matrix)[:, 2:]])


def apply(matrix, points) -> np.ndarray:
    """`(n, 2)` points through a `(2, 3)` transform."""
    points = np.asarray(points, np.float64)
    return points @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def compose(outer, inner) -> np.ndarray:
    """`outer(inner(.))` of two `(2, 3)` transforms."""
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.hstack([outer[:, :2] @ inner[:, :2],
                      (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def turning(degrees: float, centre, scale: float = 1.0, target=None) -> np.ndarray:
    """The `(2, 3)` rotation by `degrees` and uniform `scale` about `centre`
    that puts `centre` on `target` (default: where it was)."""
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.asarray(centre, np.float64)
    target = centre if target is None else np.asarray(target, np.float64)
    return np.hstack([linear, (target - linear @ centre)[:, None]])


def warp(image, matrix, size, resample=Image.BICUBIC) -> np.ndarray:
    """`image` `(h, w, c)` uint8 through `matrix` (its pixels -> output pixels)
    into an output of `size` (width, height); outside the image is black."""
    inverse = invert(matrix)        # PIL asks, for each output pixel, where it comes from
    out = Image.fromarray(np.asarray(image)).transform(
        size, Image.AFFINE, data=tuple(inverse.ravel()), resample=resample)
    return np.asarray(out)


def landmarks(image, face: int = 0, name: str = "image") -> tuple[np.ndarray, int]:
    """The eye centres and mouth corners `(4, 2)` of face `face` (0: the
    largest) of an RGB uint8 image, and how many faces it has.

    Raises:
        AlignError: No face, no face `face`, or a face under `MIN_FACE` pixels.
    """
    detector, predictor = _models()
    image = np.ascontiguousarray(image, np.uint8)
    # The HOG detector finds upright faces; a tilted one is looked for in the
    # photo turned by +-25 degrees, and its points turned back.
    turn = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    found = sorted(detector(image, 1), key=lambda r: -r.area())
    for degrees in (25, -25):
        if found:
            break
        turn = turning(degrees, np.array([image.shape[1], image.shape[0]]) / 2)
        turned = np.ascontiguousarray(warp(image, turn, (image.shape[1], image.shape[0])))
        found = sorted(detector(turned, 1), key=lambda r: -r.area())
        if found:
            image = turned
    if not found:
        raise AlignError(f"{name}: no face found (kerasolr aligns frontal faces)")
    if face >= len(found) or face < 0:
        raise AlignError(f"{name}: --face {face} asked for, but the photo has {len(found)} "
                         f"face{'s' if len(found) > 1 else ''} (0 is the largest)")
    rect = found[face]
    if min(rect.width(), rect.height()) < MIN_FACE:
        raise AlignError(f"{name}: the face is {rect.width()}x{rect.height()} pixels; at least "
                         f"{MIN_FACE}x{MIN_FACE} is needed")
    shape = predictor(image, rect)
    xy = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
    points = np.stack([xy[36:42].mean(axis=0), xy[42:48].mean(axis=0), xy[48], xy[54]])
    return apply(invert(turn), points), len(found)


def align_face(image, face: int = 0, name: str = "image") -> AlignedFace:
    """Brings face `face` of an RGB uint8 photo to the aligned-CelebA geometry."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise AlignError(f"{name}: expected an RGB uint8 image, got {image.shape} "
                         f"{image.dtype}")
    points, faces = landmarks(image, face, name)
    matrix = similarity(points, TEMPLATE)
    return AlignedFace(warp(image, matrix, ALIGNED_SIZE), matrix, points, faces)


def align_file(path: str, face: int = 0) -> tuple[np.ndarray, AlignedFace]:
    """`(photo, aligned)` for an image file: the file checked (one line naming
    it if it is missing, not an image or corrupt), read as RGB uint8, and face
    `face` brought to the aligned-CelebA geometry (`align_face`)."""
    from kerasolr.checks import check_image_file

    check_image_file(path)
    with Image.open(path) as opened:
        photo = np.asarray(opened.convert("RGB"))
    return photo, align_face(photo, face, name=path)


def crop_box() -> tuple[int, int, int, int]:
    """The square the models see, `(left, top, right, bottom)` in the aligned frame
    (`square_crop_resize`'s central crop of a 178 x 218 image)."""
    return 0, CROP_TOP, ALIGNED_SIZE[0], CROP_TOP + ALIGNED_SIZE[0]


def crop_of(aligned: AlignedFace, image_size: int) -> np.ndarray:
    """The aligned face as the models take it: `(S, S, 3)` float32 in [0, 1],
    through the training data's own crop and resize."""
    from kerasolr.data.images import square_crop_resize

    return np.asarray(square_crop_resize(aligned.image, image_size))


def paste_back(photo, crop, aligned: AlignedFace, reconstruction=None, input_size=None,
               feather: float = 0.08) -> np.ndarray:
    """Puts an edited face back where it came from in the photo, blended with
    a feathered elliptical mask so the edges do not show.

    With `reconstruction` (the decode of the unedited embedding), only the
    edit is pasted: the photo's face plus `crop - reconstruction`, so the
    photo keeps its own detail and colour and gains the change (the decoder's
    blur is not pasted). Without it, the crop itself replaces the face,
    colour-matched to it (per channel mean and standard deviation inside the
    mask).

    Args:
        photo: The original RGB uint8 photo.
        crop: The edited face as the decoder returns it, `(o, o, 3)` floats in [0, 1].
        aligned: `align_face`'s result for that photo.
        reconstruction: Optional unedited decode, the shape of `crop`.
        input_size: The models' input side `S` when the decoder's output is
            smaller (it covers the central `o` of the `S` pixels); default `o`.
        feather: Blur of the mask's edge, as a fraction of the crop's side.

    Returns:
        The photo, uint8, with the face edited.
    """
    photo = np.asarray(photo, np.uint8)
    crop = np.clip(np.asarray(crop, np.float64), 0.0, 1.0)
    size = crop.shape[0]
    input_size = input_size or size
    left, top, right, _ = crop_box()
    # crop pixels -> aligned pixels -> photo pixels
    scale = (right - left) / input_size
    offset = scale * (input_size - size) / 2
    to_aligned = np.array([[scale, 0.0, left + offset], [0.0, scale, top + offset]])
    to_photo = compose(invert(aligned.matrix), to_aligned)
    height, width = photo.shape[:2]

    def to_frame(values):           # (o, o, 3) floats in [0, 1] -> photo frame, floats 0-255
        return warp((np.clip(values, 0, 1) * 255).round().astype(np.uint8), to_photo,
                    (width, height)).astype(np.float64)

    yy, xx = np.mgrid[0:size, 0:size]
    ellipse = (((xx - size / 2) / (0.42 * size)) ** 2
               + ((yy - size * 0.55) / (0.48 * size)) ** 2) <= 1.0
    mask = Image.fromarray((ellipse * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(feather * size))
    mask = to_frame(np.repeat(np.asarray(mask, np.float64)[:, :, None] / 255.0, 3,
                              axis=2))[:, :, 0] / 255.0
    inside = mask > 0.5
    if inside.sum() < 16:
        raise AlignError("the face is too small in the photo to paste back")
    original = photo.astype(np.float64)
    if reconstruction is not None:
        # The change, signed, carried through the warp as an offset around mid-grey.
        change = np.asarray(crop, np.float64) - np.asarray(reconstruction, np.float64)
        face = original + (to_frame(0.5 + change / 2) - 127.5) * 2
    else:
        face = to_frame(crop)
        for channel in range(3):    # colour match inside the face
            f, o = face[:, :, channel][inside], original[:, :, channel][inside]
            face[:, :, channel] = ((face[:, :, channel] - f.mean()) / max(f.std(), 1e-6)
                                   * o.std() + o.mean())
    out = mask[:, :, None] * face + (1.0 - mask[:, :, None]) * original
    return np.clip(out, 0, 255).round().astype(np.uint8)
