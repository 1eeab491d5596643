"""Fitting the classifier and the Siamese encoder under a `tf.distribute` strategy."""

from __future__ import annotations

import os

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


def save_model_atomically(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file under a temporary name, then renames it into place,
    so an interrupted save never leaves a file that cannot load."""
    directory, name = os.path.split(os.path.abspath(path))
    partial = os.path.join(directory, f".partial-{os.getpid()}-{name}")
    model.save(partial)
    os.replace(partial, path)


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
        seed: Occlusion seed.
        callbacks: Extra Keras callbacks.
        verbose: Keras verbosity.

    Returns:
        `(classifier, history dict)`.
    """
    with strategy.scope():
        classifier = build_classifier(num_labels, image_size, config.filters, config.dense_units)
        trainer = OccludedClassifierTrainer(classifier, config.occlusion_rate, occlusion_min,
                                            occlusion_max, seed=seed + 1)
        trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
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
        seed: Occlusion seed.
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
                         seed=seed + 2)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    history = model.fit(train_pairs, validation_data=val_pairs, epochs=config.epochs,
                        callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return encoder, history.history


def fit_reconstruction(config: DecoderConfig, build_model, train_batches: tf.data.Dataset,
                       val_batches: tf.data.Dataset | None, strategy: tf.distribute.Strategy,
                       callbacks=(), verbose="auto") -> tuple[keras.Model, dict]:
    """Trains a decoder (or a whole autoencoder) with paper eq. 3 and RMSprop.

    Args:
        config: Decoder settings (alpha, learning rate, epochs, SSIM settings).
        build_model: A no-argument function returning the model to train (called
            under the strategy's scope); it returns `{"raw", "image"}`.
        train_batches: `(codes, images)` batches; images in [0, 1] at full size.
        val_batches: Optional validation batches of the same kind.
        strategy: The strategy to build and fit under.
        callbacks: Extra Keras callbacks.
        verbose: Keras verbosity.

    Returns:
        `(model, history dict)`.

    Reference: paper section 4.4 (RMSprop, 1e-4, alpha = 0.5).
    """
    with strategy.scope():
        model = build_model()
        trainer = ReconstructionTrainer(model, config.alpha, config.ssim_max_val,
                                        config.ssim_filter_size)
        trainer.compile(optimizer=keras.optimizers.RMSprop(config.learning_rate))
    history = trainer.fit(train_batches, validation_data=val_batches, epochs=config.epochs,
                          callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return model, history.history
