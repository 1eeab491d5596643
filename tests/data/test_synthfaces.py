"""Known-answer tests for the synthfaces generator."""

import numpy as np
import pytest
import tensorflow as tf

from kerasolr.data import synthfaces as sf


def test_attribute_names_and_order():
    assert sf.ATTRIBUTES == (
        "Male", "Young", "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Bald",
        "Black_Hair", "Blond_Hair", "Gray_Hair", "Mustache", "Wearing_Lipstick", "Heavy_Makeup",
        "Narrow_Eyes", "Chubby", "Bangs")
    assert sf.DEFAULT_IMAGE_SIZE == 64
    assert sf.validate_attributes(None) == sf.ATTRIBUTES
    assert sf.validate_attributes(["Bangs", "Male"]) == ("Bangs", "Male")


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_dtypes_and_range(size):
    out = sf.generate(3, 8, image_size=size, seed=1)
    assert out["image"].shape == (5, size, size, 3) and out["image"].dtype == np.float32
    assert out["labels"].shape == (5, 16) and out["labels"].dtype == np.float32
    assert out["clean_labels"].shape == (5, 16) and out["clean_labels"].dtype == np.float32
    assert out["id"].dtype == np.int64 and out["id"].tolist() == [3, 4, 5, 6, 7]
    assert 0.0 <= out["image"].min() and out["image"].max() <= 1.0
    assert out["image"].std() > 0.05  # not blank
    assert set(np.unique(out["labels"])) <= {0.0, 1.0}


def test_make_dataset_elements_are_unbatched_and_in_order():
    ds = sf.make_dataset(125, 131, image_size=16, attributes=["Smiling", "Male"])
    spec = ds.element_spec
    assert spec["image"].shape == (16, 16, 3) and spec["labels"].shape == (2,)
    assert spec["id"].shape == () and spec["id"].dtype == tf.int64
    elements = list(ds.as_numpy_iterator())
    assert [int(e["id"]) for e in elements] == list(range(125, 131))
    # Same examples as `generate` (which calls the same graph function outside tf.data, where
    # Eigen may round a transcendental op differently in the last bit).
    ref = sf.generate(125, 131, image_size=16, attributes=["Smiling", "Male"])
    for key in ("labels", "clean_labels", "id"):
        np.testing.assert_array_equal(np.stack([e[key] for e in elements]), ref[key])
    np.testing.assert_allclose(np.stack([e["image"] for e in elements]), ref["image"], atol=1e-5)
    # Within tf.data the same example is bit-identical whatever the range.
    wide = list(sf.make_dataset(120, 260, image_size=16).as_numpy_iterator())
    np.testing.assert_array_equal(wide[5]["image"], elements[0]["image"])
    np.testing.assert_array_equal(wide[10]["image"], elements[5]["image"])


def test_same_example_whatever_the_range():
    wide = sf.generate(100, 300, image_size=16, seed=7, label_noise=0.1)
    for start, stop in [(120, 140), (255, 257), (127, 129)]:
        part = sf.generate(start, stop, image_size=16, seed=7, label_noise=0.1)
        for key in ("image", "labels", "clean_labels", "id"):
            np.testing.assert_array_equal(part[key], wide[key][start - 100:stop - 100])
    other = sf.generate(120, 140, image_size=16, seed=8)
    assert np.abs(other["image"] - wide["image"][20:40]).mean() > 0.05


def test_attribute_selection_picks_columns():
    full = sf.generate(0, 20, image_size=16, label_noise=0.3)
    some = sf.generate(0, 20, image_size=16, label_noise=0.3, attributes=["Bangs", "Male"])
    idx = [sf.ATTRIBUTES.index("Bangs"), 0]
    np.testing.assert_array_equal(some["labels"], full["labels"][:, idx])
    np.testing.assert_array_equal(some["clean_labels"], full["clean_labels"][:, idx])
    np.testing.assert_array_equal(some["image"], full["image"])
    np.testing.assert_array_equal(sf.sample_labels(0, 20), full["clean_labels"])


def test_empty_range():
    out = sf.generate(5, 5, image_size=16)
    assert out["image"].shape == (0, 16, 16, 3) and out["labels"].shape == (0, 16)


def test_exact_correlation_matches_samples():
    corr = sf.exact_correlation_matrix()
    assert corr.shape == (16, 16) and corr.dtype == np.float64
    np.testing.assert_allclose(corr, corr.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    labels = sf.sample_labels(0, 100_000, seed=3)
    np.testing.assert_allclose(np.corrcoef(labels.T), corr, atol=0.02)
    np.testing.assert_allclose(labels.mean(0), sf.exact_marginals(), atol=0.01)
    sub = sf.exact_correlation_matrix(["Wearing_Lipstick", "Male"])
    np.testing.assert_allclose(sub, corr[np.ix_([11, 0], [11, 0])])
    assert sub[0, 1] < -0.3  # lipstick mostly when not male


def test_prevalences_and_designed_correlations():
    m = sf.exact_marginals()
    assert np.all((m >= 0.08) & (m <= 0.6)), dict(zip(sf.ATTRIBUTES, m, strict=True))
    c = sf.exact_correlation_matrix()
    a = {name: i for i, name in enumerate(sf.ATTRIBUTES)}
    assert c[a["Mustache"], a["Male"]] > 0.3
    assert c[a["Wearing_Lipstick"], a["Heavy_Makeup"]] > 0.3
    assert c[a["Gray_Hair"], a["Young"]] < -0.2 and c[a["Bald"], a["Young"]] < -0.1
    assert c[a["Mouth_Slightly_Open"], a["Smiling"]] > 0.3
    assert c[a["Chubby"], a["Young"]] < -0.1
    assert sf.exact_marginals(["Young", "Male"]).tolist() == [m[1], m[0]]


def test_hair_labels_are_consistent():
    labels = sf.sample_labels(0, 20_000, seed=5, attributes=[
        "Wearing_Hat", "Bald", "Black_Hair", "Blond_Hair", "Gray_Hair", "Bangs"])
    hat, bald, colours, bangs = labels[:, 0], labels[:, 1], labels[:, 2:5], labels[:, 5]
    assert colours.sum(1).max() == 1 and (bald + colours.sum(1)).max() == 1
    assert np.all(labels[hat == 1, 1:] == 0)  # a hat hides all hair
    assert np.all(bangs[bald == 1] == 0)
    assert hat.sum() > 0 and bald.sum() > 0


def test_label_noise_flips_the_requested_fraction():
    clean0 = sf.sample_labels(0, 20_000, seed=2)
    noisy = sf.sample_labels(0, 20_000, seed=2, label_noise=0.2, clean=False)
    clean = sf.sample_labels(0, 20_000, seed=2, label_noise=0.2)
    np.testing.assert_array_equal(clean, clean0)
    assert abs((noisy != clean).mean() - 0.2) < 0.005
    out = sf.generate(0, 40, image_size=16, seed=2, label_noise=0.2)
    np.testing.assert_array_equal(out["clean_labels"], clean0[:40])
    np.testing.assert_array_equal(out["labels"], noisy[:40])


@pytest.mark.parametrize("name", sf.ATTRIBUTES)
def test_each_attribute_changes_the_image(name):
    params = sf.chunk_params(11, 0)
    # A plain base: visible brown hair, so every hair attribute can be switched on.
    params = sf.set_attribute(sf.set_attribute(params, "Wearing_Hat", 0), "Black_Hair", 0)
    images, column = [], sf.ATTRIBUTES.index(name)
    for value in (0, 1):
        p = sf.set_attribute(params, name, value)
        assert np.all(sf.labels_from_latents(p["latents"]).numpy()[:, column] == value)
        images.append(sf.render(p, 64).numpy())
    changed = (np.abs(images[1] - images[0]).max(-1) > 0.1).sum((1, 2))
    assert changed.min() >= 8, (name, changed.min())  # pixels of 64x64, in every example


def test_banded_rendering_is_exact():
    params = sf.chunk_params(4, 2)
    for size in (16, 45):
        np.testing.assert_array_equal(sf.render(params, size).numpy(),
                                      sf.render(params, size, banded=False).numpy())


@pytest.mark.parametrize("kwargs, text", [
    ({"image_size": 15}, "15"), ({"image_size": 179}, "179"), ({"label_noise": 1.0}, "1.0"),
    ({"label_noise": -0.1}, "-0.1"), ({"start": 5, "stop": 4}, "stop=4"),
    ({"start": -1}, "-1"), ({"attributes": ["Male", "Foo"]}, "'Foo'"),
])
def test_bad_arguments_raise(kwargs, text):
    args = {"start": 0, "stop": 4, **kwargs}
    for fn in (sf.make_dataset, sf.generate):
        with pytest.raises(ValueError, match=text.replace(".", r"\.")):
            fn(**args)
    with pytest.raises(ValueError, match="Foo"):
        sf.exact_correlation_matrix(["Foo"])
