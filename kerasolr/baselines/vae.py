"""The beta-VAE and the label-conditioned PSE VAE, as comparison baselines.

Both share one image encoder (the conv trunk of the classifier and encoder,
global average pooling, two Dense heads for the mean and log-variance of a
diagonal Gaussian `q(z|x)` of `L x k` numbers) and the reconstruction decoder
of `kerasolr.models.decoder`. The reconstruction term is the sum of squared
errors between the crop of the image and the decoder's raw output (a
Gaussian likelihood). They differ in the KL term:

- beta-VAE (Higgins et al., 2017): `beta * KL(q(z|x) || N(0, I))`;
- PSE (probabilistic semantic embedding, eq. 2): `KL(q(z|x) || q(z|l))`,
  where `q(z|l)` is a second Gaussian computed from the label vector `l`
  by a label encoder (an MLP), trained jointly. A label vector is then a
  distribution in the image latent space, which gives PSE its annotation
  (most likely label vector of an image's mean) and its generation (decode
  a sample of `q(z|l)`); see `kerasolr.baselines.pse`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasolr.data.images import unit_images
from kerasolr.losses import gaussian_kl, gaussian_sse
from kerasolr.models.blocks import conv_trunk
from kerasolr.models.decoder import crop_to
from kerasolr.models.trainer import Trainer
from kerasolr.training import compile_options


def build_gaussian_encoder(image_size: int, latent_dim: int, filters,
                           name: str = "vae_encoder") -> keras.Model:
    """Images -> the mean and log-variance of a diagonal Gaussian `q(z|x)`.

    Args:
        image_size: Square input side.
        latent_dim: Size of `z` (the baselines use `L x k`).
        filters: Filters per convolutional block.
        name: Model name.

    Returns:
        A functional model `(batch, S, S, 3) -> {"mean", "log_var"}`, each
        `(batch, latent_dim)` float32.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = conv_trunk(inputs, filters, name=f"{name}_trunk")
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    mean = keras.layers.Dense(latent_dim, name=f"{name}_mean", dtype="float32")(x)
    log_var = keras.layers.Dense(latent_dim, name=f"{name}_log_var", dtype="float32",
                                 kernel_initializer="zeros")(x)
    return keras.Model(inputs, {"mean": mean, "log_var": log_var}, name=name)


def build_label_encoder(num_labels: int, latent_dim: int, units: int = 128,
                        name: str = "label_encoder") -> keras.Model:
    """Label vectors -> the mean and log-variance of `q(z|l)` (PSE's label encoder).

    Args:
        num_labels: L.
        latent_dim: Size of `z` (as the image encoder's).
        units: Hidden width of the MLP.
        name: Model name.

    Returns:
        A functional model `(batch, L) -> {"mean", "log_var"}`, each `(batch, latent_dim)`.
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be >= 1, got {num_labels}")
    inputs = keras.Input((num_labels,), name="labels")
    x = keras.layers.Dense(units, activation="relu", name=f"{name}_hidden")(inputs)
    mean = keras.layers.Dense(latent_dim, name=f"{name}_mean", dtype="float32")(x)
    log_var = keras.layers.Dense(latent_dim, name=f"{name}_log_var", dtype="float32",
                                 kernel_initializer="zeros")(x)
    return keras.Model(inputs, {"mean": mean, "log_var": log_var}, name=name)


class VAETrainer(Trainer):
    """Trains a beta-VAE, or PSE when given a label encoder, on `(images, labels)` batches.

    Loss per image: `SSE(crop(x), Dec(z)["raw"]) + beta * KL`, with
    `z ~ q(z|x)` by the reparameterisation trick, and `KL` against `N(0, I)`
    (no label encoder) or against `q(z|l)` (PSE eq. 2, negated). The labels
    are ignored without a label encoder.

    Args:
        encoder: From `build_gaussian_encoder`.
        decoder: A decoder `(batch, latent_dim) -> {"raw", "image"}`.
        label_encoder: From `build_label_encoder`, or `None` for a beta-VAE.
        beta: Weight of the KL term.
        seed: Seed of the reparameterisation noise.
    """

    def __init__(self, encoder, decoder, label_encoder=None, beta: float = 1.0, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.label_encoder = label_encoder
        self.beta = float(beta)
        self.output_size = int(decoder.output["image"].shape[1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.sse_tracker = keras.metrics.Mean(name="sse")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.loss_tracker, self.sse_tracker, self.kl_tracker]

    def call(self, images, training=False):
        q = self.encoder(images, training=training)
        return self.decoder(q["mean"], training=training)

    def compute_losses(self, data, training):
        """Shared by `train_step` and `test_step`: `(loss, sse, kl)` batch means."""
        images, labels = data
        images = unit_images(images)
        target = crop_to(tf.cast(images, tf.float32), self.output_size)
        q = self.encoder(images, training=training)
        noise = keras.random.normal(ops.shape(q["mean"]), seed=self.seed_generator)
        z = q["mean"] + ops.exp(0.5 * q["log_var"]) * noise
        out = self.decoder(z, training=training)
        sse = gaussian_sse(target, out["raw"])
        if self.label_encoder is None:
            kl = gaussian_kl(q["mean"], q["log_var"])
        else:
            p = self.label_encoder(tf.cast(labels, tf.float32), training=training)
            kl = gaussian_kl(q["mean"], q["log_var"], p["mean"], p["log_var"])
        sse, kl = ops.mean(sse), ops.mean(kl)
        return sse + self.beta * kl, sse, kl

    def _update(self, loss, sse, kl):
        self.loss_tracker.update_state(loss)
        self.sse_tracker.update_state(sse)
        self.kl_tracker.update_state(kl)
        return self.results()

    def train_step(self, data):
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        if self.label_encoder is not None:
            variables = variables + self.label_encoder.trainable_variables
        return self._update(*self.minimize(lambda: self.compute_losses(data, True), variables))

    def test_step(self, data):
        return self._update(*self.compute_losses(data, False))


def fit_vae(image_size: int, num_labels: int, latent_dim: int, encoder_filters,
            build_decoder, train_batches, val_batches, strategy, beta: float,
            learning_rate: float, epochs: int, pse: bool = False, label_units: int = 128,
            seed: int = 0, callbacks=(), verbose="auto") -> tuple[dict, dict]:
    """Builds and trains a beta-VAE (or PSE with `pse=True`) under `strategy`.

    Args:
        image_size: Square input side.
        num_labels: L.
        latent_dim: Size of `z`.
        encoder_filters: Filters of the encoder's conv blocks.
        build_decoder: No-argument function returning the decoder for `(latent_dim,)` codes.
        train_batches: `(images, labels)` batches.
        val_batches: Optional validation batches of the same kind.
        strategy: The strategy to build and fit under.
        beta: KL weight.
        learning_rate: Adam learning rate.
        epochs: Training epochs.
        pse: Train PSE (a label encoder as the prior) instead of a beta-VAE.
        label_units: Hidden width of PSE's label encoder.
        seed: Reparameterisation seed.
        callbacks: Keras callbacks.
        verbose: Keras verbosity.

    Returns:
        `({"encoder", "decoder"[, "label_encoder"]}, history dict)`.
    """
    with strategy.scope():
        models = {"encoder": build_gaussian_encoder(image_size, latent_dim, encoder_filters,
                                                    "pse_encoder" if pse else "vae_encoder"),
                  "decoder": build_decoder()}
        if pse:
            models["label_encoder"] = build_label_encoder(num_labels, latent_dim, label_units)
        trainer = VAETrainer(models["encoder"], models["decoder"], models.get("label_encoder"),
                             beta, seed)
        trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), **compile_options())
    history = trainer.fit(train_batches, validation_data=val_batches, epochs=epochs,
                          callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return models, history.history
