"""The Siamese encoder and the occlusion-supervised OLR training model."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasolr import occlusion
from kerasolr.data.images import unit_images
from kerasolr.layers import LabelGroupPooling
from kerasolr.losses import pair_mse
from kerasolr.models.blocks import conv_layer, conv_trunk
from kerasolr.models.trainer import Trainer

LABEL_LAYER_INIT_SCALE = 0.01


def copy_trunk_weights(classifier: keras.Model, encoder: keras.Model) -> int:
    """Initialises the encoder's convolutional blocks from the classifier's.

    Both are built by `conv_trunk` (layers `cls_*` and `enc_*`); the filters
    must match. The label-specific layer keeps its own initialisation.

    Returns:
        The number of layers copied.
    """
    pairs = [(classifier.get_layer(layer.name.replace("enc_", "cls_", 1)), layer)
             for layer in encoder.layers
             if layer.name.startswith(("enc_conv", "enc_bn"))]
    for source, target in pairs:
        if [w.shape for w in source.weights] != [w.shape for w in target.weights]:
            raise ValueError(f"cannot initialise {target.name} from {source.name}: "
                             "classifier and encoder filters differ")
        target.set_weights(source.get_weights())
    return len(pairs)


def build_encoder(num_labels: int, k: int, image_size: int, filters=(32, 64, 96, 128),
                  name: str = "encoder") -> keras.Model:
    """Builds the Siamese encoder (both branches share it).

    Convolutional blocks, then the label-specific layer of `num_labels` groups
    of `k` feature maps (a linear 3x3 convolution), then `LabelGroupPooling`.

    Args:
        num_labels: L.
        k: Embedding size per label.
        image_size: Square input side.
        filters: Filters per convolutional block.
        name: Model name.

    Returns:
        A functional model `(batch, S, S, 3) -> (batch, L, k)`.

    Reference: paper section 3, Fig. 1.
    """
    if num_labels < 1 or k < 1:
        raise ValueError(f"num_labels and k must be >= 1, got num_labels={num_labels}, k={k}")
    # === Layers / Functional Model ===
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = conv_trunk(inputs, filters, name="enc")
    # A small initial scale keeps the first dot products near the targets (~0.1):
    # at the usual unit scale |u| starts near 10 and the first optimizer steps
    # collapse every slot to a constant (measured; see BENCHMARKS.md).
    x = conv_layer(
        num_labels * k, 3, padding="same", name="label_groups",
        kernel_initializer=keras.initializers.VarianceScaling(
            LABEL_LAYER_INIT_SCALE, "fan_in", "truncated_normal"))(x)
    embeddings = LabelGroupPooling(num_labels, k, name="embedding", dtype="float32")(x)
    return keras.Model(inputs, embeddings, name=name)


def _flatten_pairs(pairs):
    """`(batch, 2, ...) -> (2 * batch, ...)`: pair i becomes rows 2i and 2i + 1."""
    shape = tf.shape(pairs)
    return tf.reshape(pairs, tf.concat([[shape[0] * 2], shape[2:]], axis=0))


def _unflatten_pairs(rows):
    """`(2 * batch, ...) -> (batch, 2, ...)`, the inverse of `_flatten_pairs`."""
    return tf.reshape(rows, [-1, 2, *rows.shape[1:]])


def logits_model(classifier) -> keras.Model:
    """The classifier up to its `"logits"` layer (for targets at a temperature)."""
    return keras.Model(classifier.inputs, classifier.get_layer("logits").output,
                       name="classifier_logits")


def target_probabilities(classifier, images, temperature: float = 1.0, logits_model=None):
    """What the Siamese targets are made of: the frozen classifier's
    probabilities of `(n, S, S, 3)` images in [0, 1], as float32; at a
    temperature other than 1, `sigmoid(logits / temperature)` from
    `logits_model` (the classifier up to its `"logits"` layer)."""
    if temperature == 1.0:
        probs = classifier(images, training=False)
    else:
        probs = tf.sigmoid(logits_model(images, training=False) / temperature)
    return tf.cast(probs, tf.float32)


class OLRModel(Trainer):
    """Trains an encoder so pair dot products match the classifier's joint probabilities.

    Each batch holds image pairs `(batch, 2, S, S, 3)`. Both images of every
    pair are occluded, the frozen classifier gives `p1`, `p2` on the occluded
    images, the target is `p1 * p2`; the 2B occluded images go through the
    encoder as one batch, `u = sum(E1 * E2, axis=-1)`, loss = MSE(u, p1 * p2).

    Args:
        encoder: The model from `build_encoder`.
        classifier: The trained classifier (frozen here). Its `"logits"` layer
            is used when `temperature != 1`.
        occlusion: `"rectangle"` or `"none"`.
        occlusion_min: Smallest rectangle side fraction.
        occlusion_max: Largest rectangle side fraction.
        occlusion_rate: Fraction of images occluded (paper: 1.0).
        temperature: Temperature on the classifier's logits (paper's
            alternative to occlusion when > 1).
        seed: Seed of the occlusion draws.

    Reference: paper section 3, Fig. 2.
    """

    def __init__(self, encoder, classifier, occlusion="rectangle", occlusion_min=0.33,
                 occlusion_max=0.66, occlusion_rate=1.0, temperature=1.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        if occlusion not in ("rectangle", "none"):
            raise ValueError(f"occlusion must be 'rectangle' or 'none', got {occlusion!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.encoder = encoder
        self.classifier = classifier
        self.classifier.trainable = False
        self.logits_model = logits_model(classifier)
        self.occlusion = occlusion
        self.occlusion_min = float(occlusion_min)
        self.occlusion_max = float(occlusion_max)
        self.occlusion_rate = float(occlusion_rate)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.target_tracker = keras.metrics.Mean(name="target_mean")

    @property
    def metrics(self):
        return [self.loss_tracker, self.target_tracker]

    def call(self, inputs, training=False):
        """Embeds images `(batch, S, S, 3) -> (batch, L, k)`, or pairs
        `(batch, 2, S, S, 3) -> (batch, 2, L, k)` (un-occluded)."""
        if len(inputs.shape) == 5:
            return _unflatten_pairs(self.encoder(_flatten_pairs(inputs), training=training))
        return self.encoder(inputs, training=training)

    def probabilities(self, images):
        """The frozen classifier's probabilities of `(n, S, S, 3)` images in
        [0, 1], at the model's temperature (float32)."""
        return target_probabilities(self.classifier, images, self.temperature,
                                    self.logits_model)

    def compute_losses(self, pairs, training, step, clean_probs=None):
        """Shared by `train_step` and `test_step`.

        Args:
            pairs: `(batch, 2, S, S, 3)` image pairs.
            training: Whether the encoder runs in training mode.
            step: Seed counter of the occlusion draws.
            clean_probs: Optional `(batch, 2, L)` probabilities of the
                un-occluded images (`siamese.clean_targets_once`): the
                classifier then runs only on the images that get a rectangle.

        Returns:
            `(loss, joint)`: the scalar MSE and the `(batch, L)` targets.
        """
        images = _flatten_pairs(unit_images(pairs))
        occluded = None
        if self.occlusion == "rectangle":
            uniforms = occlusion.step_uniforms(tf.shape(images)[0], self.seed, step)
            images = occlusion.occlude(images, uniforms, self.occlusion_min, self.occlusion_max,
                                       self.occlusion_rate)
            occluded = uniforms[:, 4] < self.occlusion_rate     # as `occlusion_masks` decides
        if clean_probs is None:
            probs = self.probabilities(images)
        else:
            probs = _flatten_pairs(tf.cast(clean_probs, tf.float32))
            if occluded is not None:
                rows = tf.where(occluded)
                probs = tf.tensor_scatter_nd_update(
                    probs, rows, self.probabilities(tf.gather_nd(images, rows)))
        probs = _unflatten_pairs(tf.stop_gradient(probs))
        joint = probs[:, 0] * probs[:, 1]
        pair_embeddings = _unflatten_pairs(self.encoder(images, training=training))
        loss = tf.reduce_mean(pair_mse(joint, pair_embeddings))
        return loss, joint

    def train_step(self, data):
        # `data`: pairs, or `(pairs, clean_probs)` (`pipeline.pair_batches` with targets).
        pairs, clean = data if isinstance(data, tuple) else (data, None)
        loss, joint = self.minimize(
            lambda: self.compute_losses(pairs, True, self.optimizer.iterations, clean),
            self.encoder.trainable_variables)
        return self._update_metrics(loss, joint)

    def test_step(self, data):
        # A fixed occlusion seed makes the validation loss comparable across epochs.
        pairs, clean = data if isinstance(data, tuple) else (data, None)
        loss, joint = self.compute_losses(pairs, False, -1, clean)
        return self._update_metrics(loss, joint)

    def _update_metrics(self, loss, joint):
        self.loss_tracker.update_state(loss)
        self.target_tracker.update_state(tf.reduce_mean(joint))
        return self.results()
