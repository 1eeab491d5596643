"""Fitting kerasolr's models under a `tf.distribute` strategy, and what every fit shares:
the dtype policy, the resumable-checkpoint callbacks and the atomic save."""

from __future__ import annotations

import contextlib
import os
import sys

import keras
import tensorflow as tf

from kerasolr.config import ClassifierConfig, DecoderConfig, SiameseConfig
from kerasolr.models import (
    OccludedClassifierTrainer,
    OLRModel,
    build_classifier,
    build_encoder,
    copy_trunk_weights,
)
from kerasolr.models.decoder import ReconstructionTrainer
from kerasolr.models.discriminator import build_patch_discriminator, classifier_feature_maps
from kerasolr.progress import FitProgress
from kerasolr.resume import EpochCheckpoint, StopOnNaN, remove_checkpoint
from kerasolr.rundir import RunDir, log
from kerasolr.seeds import Seeds

VALIDATION_IMAGES = 1024  # held-out images whose loss is reported after each epoch


def save_model_atomically(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file under a temporary name, then renames it into place,
    so an interrupted save never leaves a file that cannot load."""
    directory, name = os.path.split(os.path.abspath(path))
    partial = os.path.join(directory, f".partial-{os.getpid()}-{name}")
    model.save(partial)
    os.replace(partial, path)


_COMPILE_OPTIONS: dict = {}


@contextlib.contextmanager
def execution(config):
    """Builds and fits under a run config's Keras dtype policy (`precision`),
    compiling every model with its `steps_per_execution` and `jit_compile`
    (`compile_options`); restores what was there before."""
    before = keras.mixed_precision.global_policy().name
    saved = dict(_COMPILE_OPTIONS)
    keras.mixed_precision.set_global_policy(config.precision)
    _COMPILE_OPTIONS.update(
        steps_per_execution=config.steps_per_execution,
        jit_compile="auto" if config.jit_compile is None else config.jit_compile)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)
        _COMPILE_OPTIONS.clear()
        _COMPILE_OPTIONS.update(saved)


def compile_options() -> dict:
    """`compile` keyword arguments of the current `execution` (Keras's defaults outside one)."""
    return dict(_COMPILE_OPTIONS)


def verbosity() -> int:
    """Keras `fit` verbosity: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def fit_callbacks(run: RunDir, out: RunDir, fit: str, what: str | None = None,
                  extra=()) -> list:
    """The callbacks of every resumable fit: the progress lines, the NaN stop, then the epoch
    checkpoint (read from `run`, written to `out`) that also writes
    `history_<fit>.csv`, then `extra`.

    Args:
        run: The run directory (where a checkpoint to resume from is read).
        out: Where this process writes (`run.output_for(strategy)`).
        fit: The fit's name: its checkpoint folder and history file.
        what: The name in messages (default `fit`).
        extra: More callbacks.
    """
    what = what or fit
    return [FitProgress(what), StopOnNaN(what, run.checkpoint_dir(fit)),
            EpochCheckpoint(run.checkpoint_dir(fit), out.checkpoint_dir(fit),
                            out.history_path(fit), what, log),
            *extra]


def save_finished(model: keras.Model, out: RunDir, fit: str, name: str | None = None) -> None:
    """Saves a finished model as `<name>.keras` (default `<fit>.keras`),
    atomically, then drops its fit's checkpoint."""
    out.save_model(model, name or fit)
    remove_checkpoint(out.checkpoint_dir(fit))


def fit_classifier(config: ClassifierConfig, num_labels: int, image_size: int,
                   train_batches: tf.data.Dataset, val_batches: tf.data.Dataset | None,
                   strategy: tf.distribute.Strategy, occlusion_min: float = 0.33,
                   occlusion_max: float = 0.66, seed: int = 0, callbacks=(),
                   verbose="auto") -> tuple[keras.Model, dict]:
    """Builds and trains the multi-label classifier.

    Args:
        config: Classifier settings.
        num_labels: L.
        image_size: Square input side.
        train_batches: `(images, labels)` batches (the global batch).
        val_batches: Optional validation batches.
        strategy: The strategy to build and fit under.
        occlusion_min: Smallest occlusion side fraction (for `occlusion_rate > 0`).
        occlusion_max: Largest occlusion side fraction.
        seed: The run seed (occlusion draws from `Seeds(seed).classifier_occlusion`).
        callbacks: Extra Keras callbacks.
        verbose: Keras verbosity.

    Returns:
        `(classifier, history dict)`.
    """
    with strategy.scope():
        classifier = build_classifier(num_labels, image_size, config.filters, config.dense_units)
        trainer = OccludedClassifierTrainer(classifier, config.occlusion_rate, occlusion_min,
                                            occlusion_max, seed=Seeds(seed).classifier_occlusion)
        trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate), **compile_options())
    history = trainer.fit(train_batches, validation_data=val_batches, epochs=config.epochs,
                          callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return classifier, history.history


def fit_encoder(config: SiameseConfig, classifier: keras.Model, num_labels: int,
                image_size: int, train_pairs: tf.data.Dataset,
                val_pairs: tf.data.Dataset | None, strategy: tf.distribute.Strategy,
                seed: int = 0, callbacks=(), verbose="auto") -> tuple[keras.Model, dict]:
    """Builds the encoder and trains it with the OLR objective.

    Args:
        config: Siamese settings.
        classifier: The trained classifier (frozen during this fit).
        num_labels: L.
        image_size: Square input side.
        train_pairs: `(batch_pairs, 2, S, S, 3)` batches.
        val_pairs: Optional validation pair batches.
        strategy: The strategy to build and fit under (the classifier must
            have been built under the same one).
        seed: The run seed (occlusion draws from `Seeds(seed).siamese_occlusion`).
        callbacks: Extra Keras callbacks.
        verbose: Keras verbosity.

    Returns:
        `(encoder, history dict)`.
    """
    with strategy.scope():
        encoder = build_encoder(num_labels, config.k, image_size, config.filters)
        if config.init_from_classifier:
            copy_trunk_weights(classifier, encoder)
        model = OLRModel(encoder, classifier, occlusion=config.occlusion,
                         occlusion_min=config.occlusion_min, occlusion_max=config.occlusion_max,
                         occlusion_rate=config.occlusion_rate, temperature=config.temperature,
                         seed=Seeds(seed).siamese_occlusion)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), **compile_options())
    history = model.fit(train_pairs, validation_data=val_pairs, epochs=config.epochs,
                        callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return encoder, history.history


def fit_reconstruction(config: DecoderConfig, build_model, train_batches: tf.data.Dataset,
                       val_batches: tf.data.Dataset | None, strategy: tf.distribute.Strategy,
                       callbacks=(), verbose="auto", classifier: keras.Model | None = None
                       ) -> tuple[keras.Model, dict]:
    """Trains a decoder (or a whole autoencoder) with paper eq. 3 and RMSprop,
    plus the optional feature-matching and adversarial terms of `config`.

    Args:
        config: Decoder settings (alpha, learning rate, epochs, SSIM settings,
            `feature_weight`, `adversarial_weight`, the discriminator's).
        build_model: A no-argument function returning the model to train (called
            under the strategy's scope); it returns `{"raw", "image"}`.
        train_batches: `(codes, images)` batches; images in [0, 1] at full size.
        val_batches: Optional validation batches of the same kind.
        strategy: The strategy to build and fit under.
        callbacks: Extra Keras callbacks.
        verbose: Keras verbosity.
        classifier: The run classifier, needed when `config.feature_weight > 0`.

    Returns:
        `(model, history dict)`.

    Reference: paper section 4.4 (RMSprop, 1e-4, alpha = 0.5).
    """
    if config.feature_weight > 0 and classifier is None:
        raise ValueError("decoder.feature_weight > 0 needs the run classifier's features")
    with strategy.scope():
        model = build_model()
        size = int(model.output["image"].shape[1])
        extras = {}
        if config.feature_weight > 0:
            extras.update(features=classifier_feature_maps(classifier),
                          feature_weight=config.feature_weight,
                          feature_batch=config.feature_batch)
        if config.adversarial_weight > 0:
            extras.update(
                discriminator=build_patch_discriminator(size, config.discriminator_filters),
                adversarial_weight=config.adversarial_weight,
                discriminator_optimizer=keras.optimizers.Adam(
                    config.discriminator_learning_rate, beta_1=0.5))
        trainer = ReconstructionTrainer(model, config.alpha, config.ssim_max_val,
                                        config.ssim_filter_size, **extras)
        trainer.compile(optimizer=keras.optimizers.RMSprop(config.learning_rate),
                        **compile_options())
    history = trainer.fit(train_batches, validation_data=val_batches, epochs=config.epochs,
                          callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return model, history.history
