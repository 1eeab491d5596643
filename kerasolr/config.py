"""Typed, frozen run configuration and named presets.

Every run writes the `RunConfig` it used to `config.json`, so every number in
`results.json` traces back to its settings. Presets are plain functions.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

KNOWN_DATASETS = ("synthfaces",)
OCCLUSION_MODES = ("rectangle", "none")


@dataclass(frozen=True)
class DataConfig:
    """Which images and labels a run uses.

    Attributes:
        dataset: Dataset name; `"synthfaces"` (built in, no download).
        image_size: Square side the images are rendered or resized to.
        num_train: Training images (indices `[0, num_train)` of the generator).
        num_test: Held-out images (the next `num_test` indices).
        label_noise: Fraction of training labels flipped (synthfaces only);
            test labels are always clean.
        attributes: Label names to use, or `None` for all of the dataset's.
        seed: Seed of the dataset generator.
    """

    dataset: str = "synthfaces"
    image_size: int = 64
    num_train: int = 20000
    num_test: int = 2000
    label_noise: float = 0.0
    attributes: tuple[str, ...] | None = None
    seed: int = 0


@dataclass(frozen=True)
class ClassifierConfig:
    """The convolutional multi-label classifier (sigmoid outputs, BCE).

    Attributes:
        filters: Filters of each convolutional block (two 3x3 convs + pool).
        dense_units: Width of the hidden dense layer before the logits.
        epochs: Training epochs.
        batch_size: Images per batch.
        learning_rate: Adam learning rate.
        occlusion_rate: Fraction of training images that get one random
            rectangle (same distribution as the Siamese occlusion), so the
            classifier's probabilities on occluded images are calibrated.
            The paper trains on clean images (0.0).
    """

    filters: tuple[int, ...] = (32, 64, 96, 128)
    dense_units: int = 128
    epochs: int = 6
    batch_size: int = 128
    learning_rate: float = 1e-3
    occlusion_rate: float = 0.0


@dataclass(frozen=True)
class SiameseConfig:
    """The Siamese encoder and its occlusion-supervised training.

    Attributes:
        filters: Filters of each convolutional block before the label layer.
        k: Embedding size per label (feature maps per label group).
        epochs: Training epochs (one epoch = `num_train / 2` random pairs).
        batch_pairs: Image pairs per batch (the encoder sees 2x this).
        learning_rate: Adam learning rate.
        occlusion: `"rectangle"` (paper) or `"none"`.
        occlusion_min: Smallest rectangle side, as a fraction of the image side.
        occlusion_max: Largest rectangle side, as a fraction of the image side.
        occlusion_rate: Fraction of images in the pairs that get occluded
            (paper: 1.0, every image).
        temperature: Temperature applied to the classifier's logits before
            the sigmoid (paper's alternative to occlusion: > 1).
        init_from_classifier: Start the encoder's convolutional blocks from
            the trained classifier's (needs equal `filters`). The paper does
            not say how the encoder starts; the `paper` preset starts it from
            random weights.
    """

    filters: tuple[int, ...] = (32, 64, 96, 128)
    k: int = 16
    epochs: int = 8
    batch_pairs: int = 32
    learning_rate: float = 1e-4
    occlusion: str = "rectangle"
    occlusion_min: float = 0.33
    occlusion_max: float = 0.66
    occlusion_rate: float = 1.0
    temperature: float = 1.0
    init_from_classifier: bool = False


@dataclass(frozen=True)
class ProbeConfig:
    """The linear probe of paper section 4.1 (one Dense layer, L sigmoids).

    Attributes:
        epochs: Training epochs on the training embeddings.
        batch_size: Embeddings per batch.
        learning_rate: Adam learning rate.
    """

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 3e-3


@dataclass(frozen=True)
class RunConfig:
    """One whole run: data, classifier, Siamese encoder, probe.

    Attributes:
        data: The dataset.
        classifier: The classifier and its training.
        siamese: The encoder and its training.
        probe: The linear probe.
        seed: Seed of weights, pairing, occlusion and shuffling.
        preset: Name of the preset the config started from (for the record).
    """

    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    siamese: SiameseConfig = field(default_factory=SiameseConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    seed: int = 0
    preset: str = "custom"

    def validate(self) -> RunConfig:
        """Checks every field; raises `ValueError` naming the bad value."""
        d, c, s, p = self.data, self.classifier, self.siamese, self.probe
        if d.dataset not in KNOWN_DATASETS:
            raise ValueError(f"unknown dataset {d.dataset!r}; known: {', '.join(KNOWN_DATASETS)}")
        _check(16 <= d.image_size <= 178, "data.image_size", d.image_size, "in [16, 178]")
        _check(d.num_train >= 2, "data.num_train", d.num_train, ">= 2")
        _check(d.num_test >= 1, "data.num_test", d.num_test, ">= 1")
        _check(0.0 <= d.label_noise < 1.0, "data.label_noise", d.label_noise, "in [0, 1)")
        for name, filters in (("classifier.filters", c.filters), ("siamese.filters", s.filters)):
            _check(len(filters) >= 1 and all(f >= 1 for f in filters), name, filters,
                   "a non-empty list of positive ints")
            _check(d.image_size // 2 ** len(filters) >= 1, name, filters,
                   f"at most {d.image_size.bit_length() - 1} blocks for image_size {d.image_size}")
        _check(s.k >= 1, "siamese.k", s.k, ">= 1")
        _check(s.occlusion in OCCLUSION_MODES, "siamese.occlusion", s.occlusion,
               f"one of {OCCLUSION_MODES}")
        _check(0.0 < s.occlusion_min <= s.occlusion_max < 1.0, "siamese.occlusion_min/max",
               (s.occlusion_min, s.occlusion_max), "with 0 < min <= max < 1")
        _check(0.0 <= s.occlusion_rate <= 1.0, "siamese.occlusion_rate", s.occlusion_rate,
               "in [0, 1]")
        _check(0.0 <= c.occlusion_rate <= 1.0, "classifier.occlusion_rate", c.occlusion_rate,
               "in [0, 1]")
        _check(s.temperature > 0.0, "siamese.temperature", s.temperature, "> 0")
        _check(not s.init_from_classifier or tuple(s.filters) == tuple(c.filters),
               "siamese.init_from_classifier", s.init_from_classifier,
               f"False when siamese.filters {s.filters} != classifier.filters {c.filters}")
        for name, value in (("classifier.epochs", c.epochs), ("siamese.epochs", s.epochs),
                            ("probe.epochs", p.epochs), ("classifier.batch_size", c.batch_size),
                            ("siamese.batch_pairs", s.batch_pairs),
                            ("probe.batch_size", p.batch_size),
                            ("classifier.dense_units", c.dense_units)):
            _check(value >= 1, name, value, ">= 1")
        for name, value in (("classifier.learning_rate", c.learning_rate),
                            ("siamese.learning_rate", s.learning_rate),
                            ("probe.learning_rate", p.learning_rate)):
            _check(value > 0, name, value, "> 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        sections = {"data": DataConfig, "classifier": ClassifierConfig,
                    "siamese": SiameseConfig, "probe": ProbeConfig}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key in sections:
                kwargs[key] = _build(sections[key], value, key)
            elif key in ("seed", "preset"):
                kwargs[key] = value
            else:
                raise ValueError(f"unknown config section {key!r}")
        return cls(**kwargs)


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid: expected {expected}")


def _build(section_cls: type, values: dict[str, Any], prefix: str):
    known = {f.name: f for f in dataclasses.fields(section_cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"unknown config field {prefix}.{key}")
        if isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return section_cls(**kwargs)


def override(config: RunConfig, assignments: list[str]) -> RunConfig:
    """Applies `section.field=value` strings (values parsed as JSON, else str).

    Args:
        config: The starting config.
        assignments: E.g. `["siamese.k=32", "classifier.filters=[16,32]"]`.

    Returns:
        A new, validated `RunConfig`.
    """
    d = config.to_dict()
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form section.field=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.strip().split(".")
        if len(parts) == 1 and parts[0] in ("seed", "preset"):
            d[parts[0]] = value
        elif len(parts) == 2 and isinstance(d.get(parts[0]), dict):
            if parts[1] not in d[parts[0]]:
                raise ValueError(f"unknown config field {key!r}")
            d[parts[0]][parts[1]] = value
        else:
            raise ValueError(f"unknown config field {key!r}")
    return RunConfig.from_dict(d).validate()


# === Presets ===

def paper() -> RunConfig:
    """The paper's recipe (section 3) at CPU scale: both images always occluded
    by one rectangle of sides 33-66%, classifier trained on clean images,
    temperature 1."""
    return RunConfig(
        classifier=ClassifierConfig(occlusion_rate=0.0),
        siamese=SiameseConfig(occlusion="rectangle", occlusion_rate=1.0, temperature=1.0),
        preset="paper",
    )


def demo() -> RunConfig:
    """The default: the paper's method plus the measured improvements of
    BENCHMARKS.md (a classifier trained with occlusion, occlusion on half of
    the images, the encoder started from the classifier's convolutional
    blocks), sized to finish in under 15 minutes on 2 CPU cores."""
    return RunConfig(
        classifier=ClassifierConfig(occlusion_rate=0.5),
        siamese=SiameseConfig(occlusion="rectangle", occlusion_rate=0.5,
                              init_from_classifier=True),
        preset="demo",
    )


def tiny() -> RunConfig:
    """A seconds-long config for tests: 32x32 images, few of them, small nets."""
    return RunConfig(
        data=DataConfig(image_size=32, num_train=256, num_test=64),
        classifier=ClassifierConfig(filters=(8, 16), dense_units=16, epochs=1, batch_size=32),
        siamese=SiameseConfig(filters=(8, 16), k=4, epochs=1, batch_pairs=16),
        probe=ProbeConfig(epochs=2, batch_size=64),
        preset="tiny",
    )


PRESETS = {"paper": paper, "demo": demo, "tiny": tiny}


def preset(name: str) -> RunConfig:
    """Returns the named preset; unknown names raise `ValueError`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()
