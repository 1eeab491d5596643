import numpy as np
import pytest

from kerasolr import app, cli
from kerasolr.plots import save_png
from tests import app_browser

NAMES = ("A", "B", "C")


def fake_models(gallery=None) -> app.Models:
    """Label l's Gaussian always samples `10 + l` in every slot entry."""
    return app.Models(
        names=NAMES, image_size=8, k=2,
        embed=lambda images: np.ones((len(images), 3, 2), np.float32),
        reconstruct=lambda codes: np.zeros((len(codes), 8, 8, 3), np.float32),
        sample=lambda label, n, seed: np.full((n, 2), 10.0 + label, np.float32),
        gallery=gallery)


def test_slider_edit_known_answers():
    embedding = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], np.float32)
    models = fake_models()
    # 1 puts the sample in the slot, -1 zeroes it, 0 leaves it.
    np.testing.assert_allclose(app.slider_edit(embedding, [1, -1, 0], models),
                               [[10, 10], [0, 0], [3, 3]])
    # 2 and -2 go as far again; 0.5 half way: 3 + 0.5 (12 - 3) = 7.5.
    np.testing.assert_allclose(app.slider_edit(embedding, [2, -2, 0.5], models),
                               [[19, 19], [-2, -2], [7.5, 7.5]])
    np.testing.assert_array_equal(app.slider_edit(embedding, [0, 0, 0], models), embedding)


def test_slider_edit_checks_its_intensities():
    embedding = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="2 intensities for 3 labels"):
        app.slider_edit(embedding, [1, 1], fake_models())
    with pytest.raises(ValueError, match=r"\[-2, 2\].*2\.5"):
        app.slider_edit(embedding, [0, 2.5, 0], fake_models())


def test_generate_codes_samples_the_wanted_slots_only():
    codes = app.generate_codes(["B"], fake_models(), num=2)
    assert codes.shape == (2, 3, 2)
    np.testing.assert_array_equal(codes[:, 1], 11.0)
    np.testing.assert_array_equal(codes[:, [0, 2]], 0.0)


def test_images_are_enlarged_for_display_without_changing_a_pixel():
    image = np.random.default_rng(0).random((62, 62, 3)).astype(np.float32)
    shown = app.for_display(image)
    assert shown.shape == (248, 248, 3) and shown.dtype == np.uint8
    np.testing.assert_array_equal(shown[::4, ::4], np.round(image * 255))
    assert app.for_display(np.zeros((300, 300, 3))).shape == (300, 300, 3)


def test_bad_uploads_become_one_line_messages(tmp_path):
    handlers = app.Handlers(fake_models())
    zeros = [0.0] * len(NAMES)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    wrong = tmp_path / "big.png"
    save_png(np.zeros((16, 12, 3), np.uint8), str(wrong))
    cases = {None: "upload an image", str(text): f"{text} is not a PNG",
             str(wrong): "is 12x16 pixels; this run's models take 8x8",
             str(tmp_path / "gone.png"): "gone.png"}
    for path, expected in cases.items():
        *images, status = handlers.edit(path, 0, *zeros)
        assert images == [None, None, None]
        assert status.startswith("**Error:**") and expected in status, status
        assert "\n" not in status
    results, status = app.Handlers(fake_models(np.zeros((4, 3, 2)))).search(str(text), [], 2)
    assert results == [] and f"{text} is not a PNG" in status


def test_search_without_a_gallery_says_so():
    results, status = app.Handlers(fake_models()).search("any.png", ["A"], 3)
    assert results == [] and "no gallery" in status


def test_cli_needs_exactly_one_model_source(capsys):
    assert cli.main(["app"]) == 2
    assert "one of RUN_DIR, --preset NAME or --savedmodel PATH, got none" in capsys.readouterr().err
    assert cli.main(["app", "runs/x", "--preset", "synthfaces-64"]) == 2
    assert "got RUN_DIR and --preset" in capsys.readouterr().err
    assert cli.main(["app", "--savedmodel", "/no/such/model"]) == 2
    assert "/no/such/model does not exist" in capsys.readouterr().err
    assert cli.main(["app", "--preset", "synthfaces-64", "--port", "0"]) == 2
    assert "--port must be in 1..65535, got 0" in capsys.readouterr().err


@pytest.fixture(scope="module")
def preset_models(tmp_path_factory):
    from kerasolr.presets import preset_dir

    return app.models_from_run(preset_dir("synthfaces-64"),
                               str(tmp_path_factory.mktemp("examples")))


def eyeglasses_edit(handlers, path, value=2.0):
    intensities = [0.0] * len(handlers.models.names)
    intensities[handlers.models.names.index("Eyeglasses")] = value
    return handlers.edit(path, 0, *intensities)


def eye_band_ratio(a, b) -> float:
    """Mean |a - b| in the rows of the eyes (25-55% of the height) over the chin's (70-100%)."""
    rows = np.abs(a.astype(float) - b).mean(axis=(1, 2))
    h = len(rows)
    return rows[int(0.25 * h):int(0.55 * h)].mean() / rows[int(0.7 * h):].mean()


def test_the_preset_edits_where_the_label_is(preset_models):
    handlers = app.Handlers(preset_models)
    assert len(preset_models.examples) == app.EXAMPLES
    recon, edited, chart, status = handlers.edit(preset_models.examples[0], 0,
                                                 *[0.0] * len(preset_models.names))
    np.testing.assert_array_equal(edited, recon)          # no slider moved: no change
    assert status == "edited: nothing (all sliders at 0)" and chart.ndim == 3
    recon, edited, _, status = eyeglasses_edit(handlers, preset_models.examples[0])
    assert status == "edited: Eyeglasses +2"
    assert np.abs(edited.astype(float) - recon).mean() > 2.0       # of 255
    # This image's change sits in the eye band (4.3x the chin's; 1.2-6.6 over the 8 examples).
    assert eye_band_ratio(edited, recon) > 2.0
    images, status = handlers.generate(["Eyeglasses"], 3, 0)
    assert len(images) == 3 and status == "generated from: Eyeglasses"
    found, status = handlers.search(preset_models.examples[0], ["Eyeglasses"], 4)
    assert len(found) == 4 and found[0][1] == "0.00"   # the test image itself comes first


def test_a_savedmodel_serves_the_same_edits(preset_models, tmp_path):
    from kerasolr.export import export_run
    from kerasolr.presets import preset_dir

    exported = app.models_from_savedmodel(
        export_run(preset_dir("synthfaces-64"), "preset", 1, str(tmp_path)))
    assert exported.names == preset_models.names
    assert exported.image_size == preset_models.image_size and exported.gallery is None
    image = app.Handlers(preset_models).read(preset_models.examples[1])[None]
    np.testing.assert_allclose(exported.embed(image), preset_models.embed(image), atol=1e-5)
    codes = preset_models.embed(image)
    np.testing.assert_allclose(exported.reconstruct(codes), preset_models.reconstruct(codes),
                               atol=1e-5)
    first, again = exported.sample(4, 2, 0), exported.sample(4, 2, 0)
    assert first.shape == (2, codes.shape[-1])
    np.testing.assert_array_equal(first, again)                   # seeded
    assert not np.allclose(first[0], first[1])                     # one sample per row
    # A Gaussian sample, not a copy of the blank image's slot.
    norms = np.linalg.norm(exported.sample(4, 64, 0), axis=-1)
    mean_norm = np.linalg.norm(preset_models.sample(4, 64, 0), axis=-1).mean()
    assert abs(norms.mean() - mean_norm) < 0.25 * mean_norm
    # Given the run's samples, the exported model's edit is the run's edit.
    exported.sample = preset_models.sample
    served = eyeglasses_edit(app.Handlers(exported), preset_models.examples[0])
    local = eyeglasses_edit(app.Handlers(preset_models), preset_models.examples[0])
    assert served[3] == local[3] == "edited: Eyeglasses +2"
    for a, b in zip(served[:2], local[:2], strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.slow
def test_the_app_in_a_real_browser(preset_models, tmp_path):
    reason = app_browser.missing()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("gradio")
    expected = eyeglasses_edit(app.Handlers(preset_models), preset_models.examples[0])
    with app_browser.served_app(["--preset", "synthfaces-64"]) as (url, _):
        with app_browser.browser() as driver:
            driver.get(url)
            app_browser.upload(driver, "edit-input", preset_models.examples[0])
            app_browser.set_slider(driver, "Eyeglasses", 2)
            app_browser.click(driver, "edit-run")
            edited = app_browser.images_in(driver, "edit-output")[0]
            recon = app_browser.images_in(driver, "edit-recon")[0]
            status = app_browser.text_of(driver, "edit-status")
            driver.save_screenshot(str(tmp_path / "edit.png"))
            # A bad upload: a message on the page, and the app still answers.
            bad = tmp_path / "bad.png"
            bad.write_text("not an image")
            app_browser.upload(driver, "edit-input", str(bad))
            app_browser.click(driver, "edit-run")
            bad_status = app_browser.wait_text(driver, "edit-status", "Error")
    assert status == "edited: Eyeglasses +2"
    # What the browser shows is exactly what the handler computes (PNG, lossless).
    np.testing.assert_array_equal(recon, expected[0])
    np.testing.assert_array_equal(edited, expected[1])
    assert eye_band_ratio(edited, recon) > 2.0
    assert "Error" in bad_status, bad_status
    assert (tmp_path / "edit.png").stat().st_size > 10_000
