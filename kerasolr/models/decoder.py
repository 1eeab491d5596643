"""The reconstruction decoder of paper section 4.4 (Table 1), its trainer and baselines.

The decoder maps a code (an `(L, k)` embedding, an `(L,)` probability vector
or an autoencoder's bottleneck) to an image. It has two outputs: `"raw"`, the
unbounded `Conv2D_out` on which SSIM is computed, and `"image"`,
`Rescale(raw)` in [0, 1], on which MSE is computed and which users look at.

Choices the paper leaves open (documented in docs/decoder.md):
- SSIM's dynamic range on the unbounded raw output: `max_val` = the targets'
  range (1.0), as `tf.image.ssim` needs a fixed one.
- The SSIM window at small resolutions: 11 (the usual) clipped to the
  image side.
- Activation of `Conv2D_out`: linear by default (a ReLU there can output an
  all-zero image, for which `Rescale` is undefined).
- Other image sizes: the start size and which convolution is `valid` are
  chosen so the output is `image_size - 2` (see `decoder_geometry`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerasolr.geometry import decoder_geometry
from kerasolr.layers import Rescale
from kerasolr.losses import reconstruction_loss, ssim_per_channel
from kerasolr.models.blocks import conv_layer, conv_trunk, norm_layer
from kerasolr.models.discriminator import feature_matching_loss
from kerasolr.models.trainer import Trainer

TABLE1_TRANSPOSE = (128, 64, 64, 64, 64)
TABLE1_CONV = (64, 64, 64, 64, 32)

__all__ = ["ReconstructionTrainer", "build_autoencoder", "build_decoder", "crop_to",
           "decoder_geometry"]


def crop_to(images, size: int):
    """Central crop of `(batch, S, S, c)` images to `(batch, size, size, c)`
    (one pixel per side when `size = S - 2`, as in the paper)."""
    offset = (int(images.shape[1]) - size) // 2
    return images[:, offset:offset + size, offset:offset + size, :]


def build_decoder(input_shape, image_size: int, dense_channels: int = 512,
                  transpose_channels=TABLE1_TRANSPOSE, conv_channels=TABLE1_CONV,
                  output_activation: str = "linear", batch_norm: bool = False,
                  name: str = "decoder") -> keras.Model:
    """Builds the Table 1 decoder for codes of `input_shape`.

    Flatten -> Dense(s0 * s0 * dense_channels) -> Reshape(s0, s0, dense_channels)
    -> per stage: Conv2DTranspose(3, stride 2, same) -> Conv2D(3, stride 1),
    ReLU everywhere -> Conv2D_out (3 channels) -> Rescale.

    Args:
        input_shape: Shape of one code, e.g. `(L, k)` or `(L,)`.
        image_size: Side of the images reconstructed (before the crop).
        dense_channels: Channels after the Reshape (Table 1: 512).
        transpose_channels: Channels of each stage's Conv2DTranspose.
        conv_channels: Channels of each stage's Conv2D.
        output_activation: Activation of `Conv2D_out`.
        batch_norm: Put BatchNormalization before every hidden ReLU (not in
            Table 1; it trains much faster, see BENCHMARKS.md).
        name: Model name.

    Returns:
        A functional model `code -> {"raw": (batch, o, o, 3), "image": (batch, o, o, 3)}`
        with `o = decoder_geometry(...)[2]`.

    Reference: paper section 4.4, Table 1.
    """
    if len(transpose_channels) != len(conv_channels) or not transpose_channels:
        raise ValueError(f"transpose_channels {tuple(transpose_channels)} and conv_channels "
                         f"{tuple(conv_channels)} must be non-empty and of equal length")
    start, valid_stage, _ = decoder_geometry(image_size, len(transpose_channels))
    # === Layers / Functional Model ===
    inputs = keras.Input(tuple(input_shape), name="code")
    x = keras.layers.Flatten(name="flatten")(inputs)

    def relu(x, name):
        if batch_norm:
            x = norm_layer(f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    x = keras.layers.Dense(start * start * dense_channels, name="dense")(x)
    x = relu(keras.layers.Reshape((start, start, dense_channels), name="reshape")(x), "dense")
    for i, (t, c) in enumerate(zip(transpose_channels, conv_channels, strict=True)):
        x = keras.layers.Conv2DTranspose(t, 3, strides=2, padding="same",
                                         name=f"dec_tconv{i}")(x)
        x = relu(x, f"dec_tconv{i}")
        padding = "valid" if i + 1 == valid_stage else "same"
        x = relu(conv_layer(c, 3, padding=padding, name=f"dec_conv{i}")(x),
                 f"dec_conv{i}")
    raw = conv_layer(3, 3, padding="same", activation=output_activation, name="conv_out",
                     dtype="float32")(x)
    image = Rescale(name="rescale", dtype="float32")(raw)
    return keras.Model(inputs, {"raw": raw, "image": image}, name=name)


def build_autoencoder(image_size: int, bottleneck: int, encoder_filters, decoder: keras.Model,
                      name: str = "autoencoder") -> keras.Model:
    """A plain autoencoder: a conv trunk -> global average -> linear Dense
    bottleneck of `bottleneck` units -> `decoder` (built for `(bottleneck,)` codes).

    The baseline of "what a code of this size can hold" when trained end to end.

    Returns:
        A functional model `(batch, S, S, 3) -> decoder outputs`.
    """
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = conv_trunk(inputs, encoder_filters, name="ae")
    x = keras.layers.GlobalAveragePooling2D(name="ae_pool")(x)
    code = keras.layers.Dense(bottleneck, name="ae_bottleneck")(x)
    return keras.Model(inputs, decoder(code), name=name)


class ReconstructionTrainer(Trainer):
    """Trains a decoder-like model on `(codes, images)` batches with paper eq. 3.

    The target is the image cropped centrally to the model's output size; the
    loss is `alpha * (1 - SSIM(target, raw)) + (1 - alpha) * MSE(target, image)`.
    Codes are inputs only: an encoder that produced them is not trained here.
    Two optional terms make decoding sharper (`kerasolr.models.discriminator`):
    feature matching on a frozen classifier's convolutional features, and a
    non-saturating adversarial loss from a PatchGAN discriminator trained in
    the same step (its own optimizer, checkpointed with the fit).

    Args:
        model: A model returning `{"raw": ..., "image": ...}` (the decoder, or
            the whole autoencoder).
        alpha: SSIM weight (paper: 0.5).
        ssim_max_val: SSIM dynamic range.
        ssim_filter_size: SSIM window side (clipped to the image).
        features: `classifier_feature_maps` of the run classifier, or `None`.
        feature_weight: Weight of the feature-matching term.
        feature_batch: Training images of each (per-replica) batch the feature
            term sees, the batch's first ones (batches are shuffled); 0, or
            more than the batch holds, means all. Validation always uses all.
        discriminator: `build_patch_discriminator` for the output side, or `None`.
        adversarial_weight: Weight of the adversarial term.
        discriminator_optimizer: The discriminator's optimizer.
    """

    def __init__(self, model, alpha=0.5, ssim_max_val=1.0, ssim_filter_size=11, features=None,
                 feature_weight=0.0, discriminator=None, adversarial_weight=0.0,
                 discriminator_optimizer=None, feature_batch=0, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.alpha = float(alpha)
        self.ssim_max_val = float(ssim_max_val)
        self.ssim_filter_size = int(ssim_filter_size)
        self.output_size = int(model.output["image"].shape[1])
        self.features = features if feature_weight > 0 else None
        self.feature_weight = float(feature_weight)
        if int(feature_batch) < 0:
            raise ValueError(f"feature_batch={feature_batch} is invalid: expected >= 0")
        self.feature_batch = int(feature_batch)
        self.discriminator = discriminator if adversarial_weight > 0 else None
        self.adversarial_weight = float(adversarial_weight)
        if self.discriminator is not None and discriminator_optimizer is None:
            raise ValueError("an adversarial term needs the discriminator's optimizer")
        self.discriminator_optimizer = discriminator_optimizer
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.ssim_tracker = keras.metrics.Mean(name="ssim")
        self.feature_tracker = keras.metrics.Mean(name="feature")
        self.adversarial_tracker = keras.metrics.Mean(name="adversarial")
        self.discriminator_tracker = keras.metrics.Mean(name="discriminator")

    @property
    def metrics(self):
        metrics = [self.loss_tracker, self.ssim_tracker]
        if self.features is not None:
            metrics.append(self.feature_tracker)
        if self.discriminator is not None:
            metrics += [self.adversarial_tracker, self.discriminator_tracker]
        return metrics

    def extra_optimizers(self) -> list:
        """`(optimizer, variables)` of every optimizer besides `self.optimizer`
        (checkpointed by `kerasolr.resume`)."""
        if self.discriminator is None:
            return []
        return [(self.discriminator_optimizer, self.discriminator.trainable_variables)]

    def call(self, codes, training=False):
        return self.model(codes, training=training)

    def compute_losses(self, data, training):
        """Shared by `train_step` and `test_step`: `(scalar loss, target,
        outputs, {"feature", "adversarial": terms present})`."""
        codes, images = data
        target = crop_to(tf.cast(images, tf.float32), self.output_size)
        out = self.model(codes, training=training)
        per_image = reconstruction_loss(target, out["raw"], out["image"], self.alpha,
                                        self.ssim_max_val, self.ssim_filter_size)
        loss = tf.reduce_mean(per_image)
        terms = {}
        if self.features is not None:
            seen, decoded = target, tf.cast(out["image"], tf.float32)
            if training and self.feature_batch:
                # The classifier's passes cost ~2x the decoder's step; a random part of the
                # batch (the batch's order is shuffled) gives the same term in expectation.
                seen, decoded = seen[:self.feature_batch], decoded[:self.feature_batch]
            terms["feature"] = tf.reduce_mean(feature_matching_loss(
                self.features, seen, decoded, int(self.features.input_shape[1])))
            loss += self.feature_weight * terms["feature"]
        if self.discriminator is not None:
            fake = self.discriminator(tf.cast(out["image"], tf.float32), training=False)
            terms["adversarial"] = tf.reduce_mean(tf.nn.softplus(-fake))   # non-saturating
            loss += self.adversarial_weight * terms["adversarial"]
        return loss, target, out, terms

    def _update_terms(self, terms):
        if "feature" in terms:
            self.feature_tracker.update_state(terms["feature"])
        if "adversarial" in terms:
            self.adversarial_tracker.update_state(terms["adversarial"])

    def train_step(self, data):
        loss, target, out, terms = self.minimize(lambda: self.compute_losses(data, True),
                                                 self.model.trainable_variables)
        self.loss_tracker.update_state(loss)
        self._update_terms(terms)
        if self.discriminator is not None:
            fake = tf.stop_gradient(tf.cast(out["image"], tf.float32))
            variables = self.discriminator.trainable_variables
            with tf.GradientTape() as tape:
                real_logits = self.discriminator(target, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = (tf.reduce_mean(tf.nn.softplus(-real_logits))
                          + tf.reduce_mean(tf.nn.softplus(fake_logits)))
                scaled = d_loss / self.distribute_strategy.num_replicas_in_sync
            self.discriminator_optimizer.apply(tape.gradient(scaled, variables), variables)
            self.discriminator_tracker.update_state(d_loss)
        return self.results([m.name for m in self.metrics if m.name != "ssim"])

    def test_step(self, data):
        # The SSIM of the [0, 1] output, what users see, is tracked on validation only
        # (it would cost another SSIM per training step).
        loss, target, out, terms = self.compute_losses(data, False)
        self.loss_tracker.update_state(loss)
        self._update_terms(terms)
        self.ssim_tracker.update_state(
            tf.reduce_mean(ssim_per_channel(target, out["image"], 1.0, self.ssim_filter_size)))
        return self.results([m.name for m in self.metrics if m.name != "discriminator"])


def decode(decoder, codes, batch_size: int = 256) -> np.ndarray:
    """Decoded images `(n, o, o, 3)` in [0, 1] (the `Rescale` output) of
    `codes`, in batches."""
    codes = np.asarray(codes, np.float32)
    return np.concatenate([decoder(codes[i:i + batch_size], training=False)["image"].numpy()
                           for i in range(0, len(codes), batch_size)])


def decoder_from_config(config, input_shape, image_size: int, name: str = "decoder"):
    """`build_decoder` with the fields of a `DecoderConfig`."""
    return build_decoder(input_shape, image_size, config.dense_channels,
                         config.transpose_channels, config.conv_channels,
                         config.output_activation, config.batch_norm, name=name)
