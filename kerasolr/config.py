"""Typed, frozen run configuration and named presets.

Every run writes the `RunConfig` it used to `config.json`, so every number in
`results.json` traces back to its settings. Presets are plain functions.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

KNOWN_DATASETS = ("synthfaces", "celeba", "folder", "celeba_tfds")
SPLIT_MODES = ("random", "official")
OCCLUSION_MODES = ("rectangle", "none")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# The fields of a run config outside its sections, with their types.
TOP_LEVEL = {"seed": "int", "preset": "str", "precision": "str", "steps_per_execution": "int",
             "jit_compile": "bool | None"}
CACHE_MODES = ("memory", "disk", "none")
JUDGE_THRESHOLDS = ("fixed", "validation")


@dataclass(frozen=True)
class DataConfig:
    """Which images and labels a run uses.

    Attributes:
        dataset: `"synthfaces"` (built in, no download), `"celeba"` (the
            official layout under `root`), `"folder"` (`root/labels.csv` of
            file names and 0/1 columns, see `kerasolr.data.folder`) or
            `"celeba_tfds"` (TensorFlow Datasets' `celeb_a`, see
            `kerasolr.data.tfds_celeba`).
        image_size: Square side the images are rendered or resized to.
        num_train: Training images: synthfaces indices `[0, num_train)`; for
            image files, at most this many of the training split, in order.
        num_test: Held-out test images: the next `num_test` synthfaces
            indices; for image files, at most this many of the test split.
            Reported, never chosen on.
        num_val: Validation images, where every choice is made (monitors,
            early stopping, settings): the `num_val` synthfaces indices after
            the test range (so test figures do not depend on it); for image
            files, at most this many of the validation split.
        label_noise: Fraction of training and validation labels flipped
            (synthfaces only); test labels are always clean.
        attributes: Label names to use, or `None` for all of the dataset's.
        seed: Seed of the dataset generator (and of the random split).
        root: Folder of a `celeba` or `folder` dataset; for `celeba_tfds`,
            the TFDS `data_dir` (`None`: TFDS's default,
            `~/tensorflow_datasets`).
        split_mode: `"random"` (the paper's seeded split: the first
            `train_fraction` of a seeded permutation for training and
            validation, the rest for test) or `"official"` (CelebA's partition
            file: 0 train / 1 validation / 2 test).
        train_fraction: Fraction of the random split that is not test (paper:
            190,000 of 202,599 images for training).
        val_fraction: Fraction of all images that the random split gives to
            validation, taken from the end of the non-test part (so the test
            split is the paper's and training gets `train_fraction -
            val_fraction`).
        skip_bad: Skip missing, corrupt, truncated or too-small images (and
            report them) instead of stopping at the first with an error.
        cache: How training images are kept between epochs: `"memory"`
            (decoded uint8, the fastest; the whole split in RAM: ~19 GB for
            190,000 images at 178x178), `"disk"` (the same bytes in tf.data
            cache files under `RUN_DIR/cache/`) or `"none"` (decode every epoch).
        manual_dir: `celeba_tfds` only: folder holding CelebA's official
            files (`img_align_celeba.zip`, `list_attr_celeba.txt`,
            `list_eval_partition.txt`, `list_landmarks_align_celeba.txt`,
            `identity_CelebA.txt`), used once to prepare the TFDS dataset in
            `root` when it is not prepared yet (TFDS cannot download CelebA
            from Google Drive itself).
        store: `celeba` / `folder` only: a folder written by `kerasolr
            prepare` for these same data settings (`kerasolr.data.store`):
            every split is read from it as uint8 squares, nothing decoded
            (8-bit pixels, as a cached split keeps them); `cache` then does
            not apply.
    """

    dataset: str = "synthfaces"
    image_size: int = 64
    num_train: int = 20000
    num_test: int = 2000
    num_val: int = 1000
    label_noise: float = 0.0
    attributes: tuple[str, ...] | None = None
    seed: int = 0
    root: str | None = None
    split_mode: str = "random"
    train_fraction: float = 190_000 / 202_599
    val_fraction: float = 0.05
    skip_bad: bool = False
    cache: str = "memory"
    manual_dir: str | None = None
    store: str | None = None


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
        clean_targets_once: Compute the frozen classifier's probabilities
            for the training images once, before the first epoch, and in each
            step run the classifier only on the images that get a rectangle
            (the others' targets are those numbers). Same targets up to float
            rounding; saves work where `occlusion_rate < 1` or `occlusion` is
            `"none"`, and is ignored when every image is occluded.
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
    clean_targets_once: bool = False

    def clean_images(self) -> bool:
        """Whether some training images of the pairs stay un-occluded."""
        return self.occlusion == "none" or self.occlusion_rate < 1.0


@dataclass(frozen=True)
class ProbeConfig:
    """The linear probe of paper section 4.1 (one Dense layer, L sigmoids).

    The number of epochs is chosen on the validation split: training stops
    once the validation loss has not improved for `patience` epochs, and the
    best epoch's weights are kept (`probe.epochs_chosen` in `results.json`).

    Attributes:
        epochs: The most training epochs on the training embeddings.
        batch_size: Embeddings per batch.
        learning_rate: Adam learning rate.
        patience: Epochs without a better validation loss before stopping.
    """

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 3e-3
    patience: int = 5


@dataclass(frozen=True)
class DecoderConfig:
    """The reconstruction decoder of paper section 4.4 (Table 1) and its baselines.

    Stage `i` is `Conv2DTranspose(transpose_channels[i], 3, stride 2)` then
    `Conv2D(conv_channels[i], 3)`, ReLU; one of the convolutions is `valid`
    (which one, and the start size, follow from the image size so the output
    is `image_size - 2`, the target cropped by one pixel per side, as in the
    paper; see `kerasolr.models.decoder.decoder_geometry`). The defaults are
    Table 1 exactly.

    Attributes:
        dense_channels: Channels of the map the Dense layer is reshaped to.
        transpose_channels: Channels of each stage's Conv2DTranspose.
        conv_channels: Channels of each stage's Conv2D (same length).
        output_activation: Activation of `Conv2D_out`; the paper's footnote
            says "all ReLUs", which can zero an image and leave `Rescale`
            undefined, so the default is `"linear"` (see docs).
        batch_norm: BatchNormalization before every hidden ReLU (not in the
            paper; trains faster).
        alpha: Weight of the SSIM term of eq. 3 (paper: 0.5).
        learning_rate: RMSprop learning rate (paper: 1e-4).
        epochs: Training epochs (over the training split's embeddings).
        batch_size: Embeddings per batch.
        ssim_filter_size: SSIM Gaussian window side (clipped to the image).
        ssim_max_val: SSIM dynamic range for the raw, unbounded `Conv2D_out`
            (targets are in [0, 1]).
        baselines: Also train the two baselines (probabilities-only decoder
            and a same-bottleneck autoencoder).
        every: Save visual checks (PNG + TensorBoard) every this many epochs.
        feature_weight: Weight of a feature-matching term added to eq. 3 for
            the OLR decoder: the mean squared difference between the run
            classifier's convolutional features of the target and of the
            decoded image (no downloaded weights). 0 (the paper) turns it off.
        feature_batch: Training images of each batch the feature-matching term
            sees (a random part: batches are shuffled), which cuts its cost, the
            classifier's passes; 0 means the whole batch.
        adversarial_weight: Weight of a non-saturating adversarial term added
            to eq. 3 for the OLR decoder, from a PatchGAN-style discriminator
            trained alongside it. 0 (the paper) turns it off.
        discriminator_filters: Filters of the discriminator's stride-2
            4x4 convolutions (each block halves the side).
        discriminator_learning_rate: Its Adam learning rate (beta_1 0.5,
            pix2pix's setting).
    """

    dense_channels: int = 512
    transpose_channels: tuple[int, ...] = (128, 64, 64, 64, 64)
    conv_channels: tuple[int, ...] = (64, 64, 64, 64, 32)
    output_activation: str = "linear"
    batch_norm: bool = False
    alpha: float = 0.5
    learning_rate: float = 1e-4
    epochs: int = 10
    batch_size: int = 32
    ssim_filter_size: int = 11
    ssim_max_val: float = 1.0
    baselines: bool = True
    every: int = 1
    feature_weight: float = 0.0
    feature_batch: int = 0
    adversarial_weight: float = 0.0
    discriminator_filters: tuple[int, ...] = (32, 64, 128)
    discriminator_learning_rate: float = 2e-4


@dataclass(frozen=True)
class EditConfig:
    """Editing and generation (paper section 4.5) and how they are judged.

    Attributes:
        num_images: Held-out images edited for every label.
        num_generations: Label sets generated from labels alone.
        scale: Emphasis factor `s > 1` for the scale edit.
        judge_filters: Filters of the independent attribute classifier that
            judges edited and generated images.
        judge_epochs: The most epochs it trains (on clean training images,
            half mirrored, half blurred); the epoch is chosen on validation.
        judge_patience: Epochs without a better validation loss before the
            judge stops (the best epoch's weights are kept).
        judge_seed: Its seed (different from the run's, so it is independent).
        threshold: Probability above which the judge says a label is present.
        judge_thresholds: `"fixed"`: `threshold` for every label; `"validation"`:
            each label's own threshold, the one with the best balanced
            accuracy of the judge on the validation split's real images
            (`evaluation.accuracy.balanced_thresholds`; `threshold` where
            the split has one class only). A judge trained on rare labels
            (CelebA's Bald, 2%) rarely passes 0.5 for them.
        protocol_images: Test images of the AttGAN / STGAN edit protocol
            (`kerasolr.evaluation.protocol`: every label of each flipped, at
            intensity 1 and 2); at most the test split.
        context_scale: The structured edit also moves the slots it leaves
            alone by the edited label's mean effect on them, times this
            (`editing.ContextEffects`; 0: off, the structured edit of before).
            Chosen on validation (BENCHMARKS.md).
    """

    num_images: int = 256
    num_generations: int = 256
    scale: float = 1.5
    judge_filters: tuple[int, ...] = (16, 32, 48, 64)
    judge_epochs: int = 4
    judge_seed: int = 1234
    judge_patience: int = 2
    threshold: float = 0.5
    judge_thresholds: str = "fixed"
    protocol_images: int = 500
    context_scale: float = 1.0


@dataclass(frozen=True)
class AnalysisConfig:
    """What the figures of sections 4.2-4.3 show.

    Attributes:
        pca_strip_label: The label whose slots' first principal component
            orders the held-out images of the PCA strip (Fig. 5); the paper
            shows Mouth_Slightly_Open. A run without that label shows its most
            balanced one instead, and says so in the figure's title.
        query_fraction: The retrieval paper's protocol beside leave-one-out:
            this seeded fraction of the test split queries the rest (the
            paper: three query images for each database image).
    """

    pca_strip_label: str = "Mouth_Slightly_Open"
    query_fraction: float = 0.75


@dataclass(frozen=True)
class BaselineConfig:
    """The representations `kerasolr compare` puts beside OLR's (`kerasolr.baselines`).

    The classifier's features and the plain autoencoder come from the OLR run
    itself (its `classifier.keras` and the `decoder.baselines` autoencoder).
    The beta-VAE and the label-conditioned PSE VAE are trained here, with the
    encoder trunk of `siamese.filters`, a latent of `L x siamese.k` numbers, the
    decoder of the `decoder` section, `decoder.batch_size`, and a Gaussian
    likelihood (sum of squared errors), until their validation loss stops
    improving (at most `max_epochs`; the best epoch's weights are kept).

    Attributes:
        beta: Weight of the KL term of the beta-VAE (Higgins et al.: > 1).
        pse_beta: Weight of the PSE KL term `KL(q(z|x) || q(z|l))` (PSE eq. 2: 1).
        learning_rate: Adam learning rate of both VAEs (both papers: 1e-3).
        label_units: Hidden width of the PSE label encoder (an MLP).
        mi_bins: Equal-frequency bins per latent dimension when estimating its
            mutual information with a label (dimension selection of the
            retrieval paper, section 6).
        max_candidates: PSE annotation compares each image with the label
            vectors seen in training; at most this many (the most frequent).
        max_epochs: The most epochs each VAE trains.
        patience: Epochs without a better validation loss before a VAE stops.
    """

    beta: float = 4.0
    pse_beta: float = 1.0
    learning_rate: float = 1e-3
    label_units: int = 128
    mi_bins: int = 16
    max_candidates: int = 4096
    max_epochs: int = 20
    patience: int = 3


@dataclass(frozen=True)
class RunConfig:
    """One whole run: data, classifier, Siamese encoder, probe.

    Attributes:
        data: The dataset.
        classifier: The classifier and its training.
        siamese: The encoder and its training.
        probe: The linear probe.
        decoder: The reconstruction decoder and its baselines.
        edit: Editing, generation and their judge.
        analysis: What the figures of sections 4.2-4.3 show.
        baselines: The baselines of `kerasolr compare`.
        seed: Seed of weights, pairing, occlusion and shuffling.
        preset: Name of the preset the config started from (for the record).
        precision: Keras dtype policy of every fit: `"float32"`, or
            `"mixed_float16"` (GPUs; dynamic loss scaling) or `"mixed_bfloat16"`
            (TPUs, recent GPUs and CPUs): layers compute in 16 bits, weights,
            outputs and losses stay float32.
        steps_per_execution: Training steps per call of the compiled step
            (Keras's `compile(steps_per_execution=...)`): Keras's TensorFlow
            trainer reads the step's logs on the host after every call, so a
            larger value removes that wait from most steps. The same steps run,
            in the same order, so the weights do not change.
        jit_compile: XLA for every fit: `true`, `false`, or `null` for Keras's
            choice (on where XLA is known to help; off on CPU-only machines and
            under `MirroredStrategy`).
    """

    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    siamese: SiameseConfig = field(default_factory=SiameseConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    edit: EditConfig = field(default_factory=EditConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    seed: int = 0
    preset: str = "custom"
    precision: str = "float32"
    steps_per_execution: int = 1
    jit_compile: bool | None = None

    def validate(self) -> RunConfig:
        """Checks every field; raises `ValueError` naming the bad value."""
        d, c, s, p = self.data, self.classifier, self.siamese, self.probe
        if d.dataset not in KNOWN_DATASETS:
            raise ValueError(f"unknown dataset {d.dataset!r}; known: {', '.join(KNOWN_DATASETS)}")
        _check(16 <= d.image_size <= 178, "data.image_size", d.image_size, "in [16, 178]")
        _check(self.precision in PRECISIONS, "precision", self.precision,
               f"one of {PRECISIONS}")
        _check(self.steps_per_execution >= 1, "steps_per_execution", self.steps_per_execution,
               ">= 1")
        _check(d.num_train >= 2, "data.num_train", d.num_train, ">= 2")
        _check(d.num_test >= MIN_SPLIT_IMAGES, "data.num_test", d.num_test,
               f">= {MIN_SPLIT_IMAGES} (the figures show {MIN_SPLIT_IMAGES} held-out images)")
        _check(d.num_val >= MIN_SPLIT_IMAGES, "data.num_val", d.num_val,
               f">= {MIN_SPLIT_IMAGES} (the visual checks show {MIN_SPLIT_IMAGES} images)")
        _check(0.0 <= d.label_noise < 0.5, "data.label_noise", d.label_noise,
               "in [0, 0.5) (at 0.5 and above the flipped labels are the majority)")
        for name, value in (("seed", self.seed), ("data.seed", d.seed),
                            ("edit.judge_seed", self.edit.judge_seed)):
            _check(0 <= value < 2 ** 32, name, value, "in [0, 2**32 - 1]")
        _check(d.attributes is None or (len(d.attributes) >= 1
                                        and len(set(d.attributes)) == len(d.attributes)),
               "data.attributes", None if d.attributes is None else list(d.attributes),
               "a non-empty list of distinct names, or null for all")
        _check(d.dataset in ("synthfaces", "celeba_tfds") or bool(d.root), "data.root", d.root,
               f"the folder of the {d.dataset} dataset")
        _check(d.manual_dir is None or d.dataset == "celeba_tfds", "data.manual_dir",
               d.manual_dir, "None unless data.dataset is 'celeba_tfds'")
        _check(d.cache in CACHE_MODES, "data.cache", d.cache, f"one of {CACHE_MODES}")
        _check(d.store is None or d.dataset in ("celeba", "folder"), "data.store", d.store,
               "None unless data.dataset is 'celeba' or 'folder' (a store holds image files)")
        _check(d.split_mode in SPLIT_MODES, "data.split_mode", d.split_mode,
               f"one of {SPLIT_MODES}")
        _check(0.0 < d.train_fraction < 1.0, "data.train_fraction", d.train_fraction,
               "in (0, 1)")
        _check(0.0 < d.val_fraction < d.train_fraction, "data.val_fraction", d.val_fraction,
               f"in (0, data.train_fraction={d.train_fraction:g})")
        _check(d.label_noise == 0.0 or d.dataset == "synthfaces", "data.label_noise",
               d.label_noise, "0 for image files (synthfaces only)")
        for name, filters in (("classifier.filters", c.filters), ("siamese.filters", s.filters)):
            _check(len(filters) >= 1 and all(f >= 1 for f in filters), name, filters,
                   "a non-empty list of positive ints")
            _check(d.image_size // 2 ** len(filters) >= 1, name, filters,
                   f"at most {d.image_size.bit_length() - 1} blocks for image_size {d.image_size}")
        _check(s.k >= 1, "siamese.k", s.k, ">= 1")
        _check(self.edit.protocol_images >= 1, "edit.protocol_images",
               self.edit.protocol_images, ">= 1")
        _check(0.0 < self.analysis.query_fraction < 1.0, "analysis.query_fraction",
               self.analysis.query_fraction, "in (0, 1)")
        _check(p.epochs >= 1 and p.patience >= 1, "probe.epochs/patience",
               (p.epochs, p.patience), ">= 1 each")
        _check(self.baselines.max_epochs >= 1 and self.baselines.patience >= 1,
               "baselines.max_epochs/patience",
               (self.baselines.max_epochs, self.baselines.patience), ">= 1 each")
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
        self._validate_decoder_and_edit()
        return self

    def _validate_decoder_and_edit(self) -> None:
        dec, e = self.decoder, self.edit
        _check(len(dec.transpose_channels) >= 1
               and len(dec.transpose_channels) == len(dec.conv_channels)
               and all(c >= 1 for c in (*dec.transpose_channels, *dec.conv_channels)),
               "decoder.transpose_channels/conv_channels",
               (dec.transpose_channels, dec.conv_channels),
               "two non-empty lists of positive ints of equal length")
        _check(dec.output_activation in ("linear", "relu", "sigmoid"),
               "decoder.output_activation", dec.output_activation,
               "one of linear, relu, sigmoid")
        _check(0.0 <= dec.alpha <= 1.0, "decoder.alpha", dec.alpha, "in [0, 1]")
        _check(dec.feature_weight >= 0.0, "decoder.feature_weight", dec.feature_weight, ">= 0")
        _check(dec.feature_batch >= 0, "decoder.feature_batch", dec.feature_batch, ">= 0")
        _check(dec.adversarial_weight >= 0.0, "decoder.adversarial_weight",
               dec.adversarial_weight, ">= 0")
        _check(len(dec.discriminator_filters) >= 1
               and all(f >= 1 for f in dec.discriminator_filters),
               "decoder.discriminator_filters", dec.discriminator_filters,
               "a non-empty list of positive ints")
        from kerasolr.geometry import decoder_geometry

        try:
            decoder_geometry(self.data.image_size, len(dec.transpose_channels))
        except ValueError as err:
            raise ValueError(f"decoder.transpose_channels={dec.transpose_channels!r} is "
                             f"invalid: {err}") from None
        _check(dec.ssim_filter_size >= 1, "decoder.ssim_filter_size", dec.ssim_filter_size,
               ">= 1")
        _check(e.scale > 0, "edit.scale", e.scale, "> 0")
        _check(0.0 < e.threshold < 1.0, "edit.threshold", e.threshold, "in (0, 1)")
        _check(e.judge_thresholds in JUDGE_THRESHOLDS, "edit.judge_thresholds",
               e.judge_thresholds, "one of " + ", ".join(JUDGE_THRESHOLDS))
        _check(e.context_scale >= 0.0, "edit.context_scale", e.context_scale, ">= 0")
        _check(len(e.judge_filters) >= 1 and all(f >= 1 for f in e.judge_filters)
               and self.data.image_size // 2 ** len(e.judge_filters) >= 1,
               "edit.judge_filters", e.judge_filters,
               f"a non-empty list of positive ints, at most "
               f"{self.data.image_size.bit_length() - 1} blocks")
        for name, value in (("decoder.dense_channels", dec.dense_channels),
                            ("decoder.epochs", dec.epochs), ("decoder.every", dec.every),
                            ("decoder.batch_size", dec.batch_size),
                            ("edit.num_images", e.num_images),
                            ("edit.num_generations", e.num_generations),
                            ("edit.judge_epochs", e.judge_epochs)):
            _check(value >= 1, name, value, ">= 1")
        for name, value in (("decoder.learning_rate", dec.learning_rate),
                            ("decoder.ssim_max_val", dec.ssim_max_val)):
            _check(value > 0, name, value, "> 0")
        b = self.baselines
        for name, value in (("baselines.beta", b.beta), ("baselines.pse_beta", b.pse_beta)):
            _check(value >= 0, name, value, ">= 0")
        _check(b.learning_rate > 0, "baselines.learning_rate", b.learning_rate, "> 0")
        for name, value in (("baselines.label_units", b.label_units),
                            ("baselines.max_candidates", b.max_candidates)):
            _check(value >= 1, name, value, ">= 1")
        _check(b.mi_bins >= 2, "baselines.mi_bins", b.mi_bins, ">= 2")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        sections = {"data": DataConfig, "classifier": ClassifierConfig,
                    "siamese": SiameseConfig, "probe": ProbeConfig, "decoder": DecoderConfig,
                    "edit": EditConfig, "analysis": AnalysisConfig,
                    "baselines": BaselineConfig}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key in sections:
                kwargs[key] = _build(sections[key], value, key)
            elif key in TOP_LEVEL:
                kwargs[key] = typed(value, TOP_LEVEL[key], key)
            else:
                raise ValueError(f"unknown config section {key!r}")
        return cls(**kwargs)


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid: expected {expected}")


_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false",
             "str": "a string", "tuple[int, ...]": "a list of integers, e.g. [32, 64]",
             "tuple[str, ...]": 'a list of names, e.g. ["Male", "Smiling"]'}


def typed(value: Any, annotation: str, name: str) -> Any:
    """`value` checked against a field's type annotation (as written in the
    dataclass: `"int"`, `"tuple[int, ...]"`, `"str | None"`, ...); lists
    become tuples and integers given for a float become floats.

    Raises:
        ValueError: One line naming the field, the value and what was expected
            (`siamese.k='abc' is invalid: expected an integer`).
    """
    base = annotation.replace("| None", "").strip()
    if value is None and annotation.endswith("| None"):
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": number, "bool": isinstance(value, bool), "str": isinstance(value, str)}
    if base in ok:
        if not ok[base]:
            raise ValueError(f"{name}={value!r} is invalid: expected {_EXPECTED[base]}")
        return float(value) if base == "float" else value
    if base.startswith("tuple["):
        element = base[len("tuple["):].split(",")[0].strip()
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}={value!r} is invalid: expected {_EXPECTED[base]}")
        try:
            return tuple(typed(v, element, name) for v in value)
        except ValueError:
            raise ValueError(f"{name}={value!r} is invalid: expected "
                             f"{_EXPECTED[base]}") from None
    raise TypeError(f"{name}: no check for the annotation {annotation!r}")


def _build(section_cls: type, values: dict[str, Any], prefix: str):
    known = {f.name: f for f in dataclasses.fields(section_cls)}
    if not isinstance(values, dict):
        raise ValueError(f"config section {prefix!r} is {values!r}: expected an object")
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"unknown config field {prefix}.{key}")
        kwargs[key] = typed(value, known[key].type, f"{prefix}.{key}")
    return section_cls(**kwargs)


def config_differences(old: RunConfig, new: RunConfig, limit: int = 3) -> str:
    """The fields where two configs differ, e.g. `"siamese.k: 16 -> 32, seed: 0 -> 1"`
    (at most `limit`, then how many more)."""
    def flat(config):
        out = {}
        for key, value in config.to_dict().items():
            if isinstance(value, dict):
                out.update({f"{key}.{field}": v for field, v in value.items()})
            else:
                out[key] = value
        return out

    a, b = flat(old), flat(new)
    keys = [key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    shown = ", ".join(f"{key}: {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}"
                      for key in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


ALL = 2**31 - 1      # "no cap" for num_train / num_test / num_val
MIN_SPLIT_IMAGES = 8  # the least a validation or test split may hold (figure rows)


def data_from_spec(config: RunConfig, spec: str, assignments=()) -> DataConfig:
    """The data config of a loader spec `DATASET[:ROOT]`, e.g.
    `celeba:/data/celeba`, `folder:/data/mine` or `celeba_tfds`.

    Starts from `config.data` (same labels, seed and split settings), takes the
    spec's dataset and root, lifts the caps on split sizes, then applies
    `data.field=value` assignments (e.g. `data.split_mode=official`).

    Raises:
        ValueError: Naming the spec or the assignment at fault.
    """
    dataset, _, root = spec.partition(":")
    if dataset not in KNOWN_DATASETS or dataset == "synthfaces" and root:
        raise ValueError(f"bad data spec {spec!r}: expected DATASET:ROOT with DATASET one of "
                         f"{', '.join(d for d in KNOWN_DATASETS if d != 'synthfaces')} "
                         "(or 'synthfaces' / 'celeba_tfds' alone)")
    data = dataclasses.replace(config.data, dataset=dataset, root=root or None,
                               num_train=ALL, num_test=ALL, num_val=ALL, manual_dir=None,
                               store=None)
    for item in assignments:
        if not item.startswith("data."):
            raise ValueError(f"{item!r}: only data.* fields can be set for an evaluation")
    return override(dataclasses.replace(config, data=data), list(assignments)).data


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
        if len(parts) == 1 and parts[0] in TOP_LEVEL:
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
    temperature 1, k = 32 numbers per label."""
    return RunConfig(
        classifier=ClassifierConfig(occlusion_rate=0.0),
        siamese=SiameseConfig(occlusion="rectangle", occlusion_rate=1.0, temperature=1.0, k=32),
        preset="paper",
    )


def demo() -> RunConfig:
    """The default: the paper's method plus the measured improvements of
    BENCHMARKS.md (a classifier trained with occlusion, occlusion on half of
    the images, the encoder started from the classifier's convolutional
    blocks) and a slimmer, faster-learning decoder, sized so the whole chain
    (sections 4.1-4.5) finishes in under 20 minutes on 2 CPU cores."""
    return RunConfig(
        classifier=ClassifierConfig(occlusion_rate=0.5),
        siamese=SiameseConfig(occlusion="rectangle", occlusion_rate=0.5,
                              init_from_classifier=True, epochs=7),
        # Table 1's stages at a quarter of its widths and RMSprop at 3e-3 instead
        # of 1e-4, so three decoders train in ~6 minutes on 2 CPU cores
        # (benchmarks/decoder_sweep.py; BENCHMARKS.md).
        decoder=DecoderConfig(dense_channels=128, transpose_channels=(32, 16, 16, 16, 16),
                              conv_channels=(16, 16, 16, 16, 8), learning_rate=3e-3,
                              epochs=4, batch_size=32),
        edit=EditConfig(judge_epochs=2),
        preset="demo",
    )


def tiny() -> RunConfig:
    """A seconds-long config for tests: 32x32 images, few of them, small nets."""
    return RunConfig(
        data=DataConfig(image_size=32, num_train=256, num_test=64, num_val=64),
        classifier=ClassifierConfig(filters=(8, 16), dense_units=16, epochs=1, batch_size=32),
        siamese=SiameseConfig(filters=(8, 16), k=4, epochs=1, batch_pairs=16),
        probe=ProbeConfig(epochs=2, batch_size=64),
        decoder=DecoderConfig(dense_channels=16, transpose_channels=(16, 8, 8, 8),
                              conv_channels=(8, 8, 8, 4), epochs=1, batch_size=32,
                              learning_rate=1e-3),
        edit=EditConfig(num_images=16, num_generations=16, judge_filters=(8, 16),
                        judge_epochs=1),
        baselines=BaselineConfig(max_epochs=2, patience=1),
        preset="tiny",
    )


PRESETS = {"paper": paper, "demo": demo, "tiny": tiny}


def preset(name: str) -> RunConfig:
    """Returns the named preset; unknown names raise `ValueError`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()
