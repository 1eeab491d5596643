"""Face alignment: the geometry with known answers, and dlib on real CelebA faces
pasted into larger photos through known transforms (skipped without the `align`
extra or without `../shared/data/celeba-178-train-4k`)."""

import glob
import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from kerasolr import align

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACES = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "celeba-178-train-4k",
                                      "img_align_celeba", "*.jpg")))
HAVE_DLIB = (importlib.util.find_spec("dlib") is not None
             and importlib.util.find_spec("face_recognition_models") is not None)
needs_faces = pytest.mark.skipif(not (HAVE_DLIB and FACES), reason=(
    "needs the align extra (pip install \"kerasolr[align]\") and real faces under "
    "../shared/data/celeba-178-train-4k"))


def _rotation(degrees, scale, shift):
    a = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([linear, np.asarray(shift, float)[:, None]])


def test_similarity_recovers_a_known_transform():
    known = _rotation(25, 1.7, (30, -12))
    points = np.array([[0, 0], [10, 0], [3, 8], [-4, 5]], float)
    found = align.similarity(points, align.apply(known, points))
    np.testing.assert_allclose(found, known, atol=1e-9)
    np.testing.assert_allclose(align.apply(align.invert(known), align.apply(known, points)),
                               points, atol=1e-9)
    # Noisy points: the least-squares fit, and never a reflection.
    mirrored = points * [-1, 1]
    fit = align.similarity(points, mirrored)
    assert np.linalg.det(fit[:, :2]) > 0


def test_warp_by_the_identity_and_by_a_shift():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_array_equal(align.warp(image, identity, (30, 20), Image.NEAREST), image)
    shifted = align.warp(image, np.array([[1.0, 0, 5], [0, 1.0, 2]]), (30, 20), Image.NEAREST)
    np.testing.assert_array_equal(shifted[2:, 5:], image[:-2, :-5])
    assert (shifted[:2] == 0).all() and (shifted[:, :5] == 0).all()


def test_paste_back_of_an_unchanged_edit_leaves_the_photo_as_it_was():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (300, 260, 3), dtype=np.uint8)
    aligned = align.AlignedFace(np.zeros((218, 178, 3), np.uint8),
                                _rotation(-10, 0.8, (-20, 30)), np.zeros((4, 2)), 1)
    decoded = rng.random((62, 62, 3))
    same = align.paste_back(photo, decoded, aligned, reconstruction=decoded, input_size=64)
    assert np.abs(same.astype(int) - photo).max() <= 1           # only rounding
    # A uniform brightening of the edit shows inside the face and not outside it.
    brighter = align.paste_back(photo, np.clip(decoded + 0.2, 0, 1), aligned,
                                reconstruction=decoded, input_size=64)
    change = brighter.astype(int) - photo
    centre = align.apply(align.invert(aligned.matrix), [[89, 118]])[0].round().astype(int)
    assert change[centre[1], centre[0]].mean() > 20
    assert np.abs(change[:5, :5]).max() == 0 and np.abs(change[-5:, -5:]).max() == 0


@needs_faces
def test_faces_pasted_through_known_transforms_come_back():
    rng = np.random.default_rng(0)
    errors, again = [], []
    for path in FACES[:12]:
        original = np.asarray(Image.open(path).convert("RGB"))
        known = _rotation(rng.uniform(-30, 30), rng.uniform(0.8, 1.6),
                          rng.uniform(80, 200, size=2))
        canvas = align.warp(original, known, (420, 420))
        try:
            found = align.align_face(canvas)
        except align.AlignError:
            continue
        composed = align.apply(found.matrix, align.apply(known, align.TEMPLATE))
        errors.append(np.linalg.norm(composed - align.TEMPLATE, axis=1).mean())
        identity = align.align_face(original).matrix
        again.append(np.linalg.norm(align.apply(identity, align.TEMPLATE) - align.TEMPLATE,
                                    axis=1).mean())
    assert len(errors) >= 10
    assert np.mean(errors) < 3.0 and np.mean(again) < 3.0     # pixels of the 178 x 218 frame


@needs_faces
def test_no_face_another_face_and_a_tiny_face_are_one_line():
    with pytest.raises(align.AlignError, match="blank.png: no face found"):
        align.align_face(np.full((200, 200, 3), 128, np.uint8), name="blank.png")
    original = np.asarray(Image.open(FACES[0]).convert("RGB"))
    with pytest.raises(align.AlignError, match="--face 2 asked for, but the photo has 1 face "):
        align.align_face(original, face=2, name="one.png")
    tiny = np.full((300, 300, 3), 128, np.uint8)
    tiny[100:100 + 55, 100:100 + 45] = np.asarray(Image.fromarray(original).resize((45, 55)))
    with pytest.raises(align.AlignError, match="no face found|at least 40x40"):
        align.align_face(tiny, name="tiny.png")


@needs_faces
def test_align_folder_aligns_what_it_can_and_lists_the_rest(tmp_path, capsys):
    from kerasolr import cli
    from kerasolr.data.folder import read_label_csv

    src = tmp_path / "photos"
    (src / "img").mkdir(parents=True)
    canvases = []
    for i, path in enumerate(FACES[:3]):
        original = np.asarray(Image.open(path).convert("RGB"))
        canvas = align.warp(original, _rotation(12 * (i - 1), 1.3, (90, 70)), (380, 400))
        Image.fromarray(canvas).save(src / "img" / f"face{i}.jpg", quality=95)
        canvases.append(np.asarray(Image.open(src / "img" / f"face{i}.jpg")))
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(src / "img" / "blank.png")
    (src / "labels.csv").write_text("filename,Smiling,Male\nimg/face0.jpg,1,0\n"
                                    "img/blank.png,0,0\nimg/face1.jpg,0,1\nimg/face2.jpg,1,1\n")
    dst = tmp_path / "aligned"
    assert cli.main(["align-folder", str(src), "--out", str(dst)]) == 0
    assert "3 images aligned" in capsys.readouterr().out
    table = read_label_csv(str(dst / "labels.csv"))
    assert table.filenames == ("images/img_face0.png", "images/img_face1.png",
                               "images/img_face2.png")
    np.testing.assert_array_equal(table.labels, [[1, 0], [0, 1], [1, 1]])
    for name, canvas in zip(table.filenames, canvases, strict=True):
        written = np.asarray(Image.open(dst / name))
        assert written.shape == (218, 178, 3)
        np.testing.assert_array_equal(written, align.align_face(canvas).image)
    unaligned = (dst / "unaligned.csv").read_text().splitlines()
    assert unaligned[0] == "filename,reason" and unaligned[1].startswith("img/blank.png,")
    assert "no face found" in unaligned[1]
    # Nothing is overwritten.
    assert cli.main(["align-folder", str(src), "--out", str(dst)]) == 2
    assert f"{dst / 'labels.csv'} exists" in capsys.readouterr().err
