"""The multi-label classifier whose probabilities supervise the Siamese encoder."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasolr import occlusion
from kerasolr.data.images import unit_images
from kerasolr.models.blocks import conv_trunk
from kerasolr.models.trainer import Trainer


def build_classifier(num_labels: int, image_size: int, filters=(32, 64, 96, 128),
                     dense_units: int = 128, name: str = "classifier") -> keras.Model:
    """Builds a convolutional multi-label classifier.

    The layer named `"logits"` holds the pre-sigmoid outputs, so the OLR model
    can apply a temperature to them.

    Args:
        num_labels: L.
        image_size: Square input side.
        filters: Filters per convolutional block.
        dense_units: Hidden dense width.
        name: Model name.

    Returns:
        A functional model `(batch, S, S, 3) -> (batch, L)` probabilities.

    Reference: paper section 3 (a classifier trained on the labels).
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be >= 1, got {num_labels}")
    # === Layers / Functional Model ===
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = conv_trunk(inputs, filters, name="cls")
    x = keras.layers.Flatten(name="cls_flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="cls_dense")(x)
    logits = keras.layers.Dense(num_labels, name="logits")(x)
    probs = keras.layers.Activation("sigmoid", name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, probs, name=name)


class OccludedClassifierTrainer(Trainer):
    """Trains a classifier with BCE, occluding a fraction of the images.

    With `occlusion_rate = 0` this is plain training on clean images (the
    paper). With a rate > 0 the classifier also sees images with one random
    rectangle, so its probabilities on occluded images, which become the
    Siamese targets, are calibrated instead of reading the rectangle as a
    feature.

    Args:
        classifier: The model from `build_classifier`.
        occlusion_rate: Fraction of training images occluded.
        occlusion_min: Smallest rectangle side fraction.
        occlusion_max: Largest rectangle side fraction.
        seed: Seed of the occlusion draws.
    """

    def __init__(self, classifier, occlusion_rate=0.0, occlusion_min=0.33, occlusion_max=0.66,
                 seed=0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.occlusion_rate = float(occlusion_rate)
        self.occlusion_min = float(occlusion_min)
        self.occlusion_max = float(occlusion_max)
        self.seed = int(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.BinaryAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, images, training=False):
        return self.classifier(images, training=training)

    def compute_losses(self, data, training, step):
        images, labels = data
        images = unit_images(images)
        if training and self.occlusion_rate > 0:
            uniforms = occlusion.step_uniforms(tf.shape(images)[0], self.seed, step)
            images = occlusion.occlude(images, uniforms, self.occlusion_min, self.occlusion_max,
                                       self.occlusion_rate)
        probs = self.classifier(images, training=training)
        loss = keras.ops.mean(keras.losses.binary_crossentropy(labels, probs))
        return loss, labels, probs

    def train_step(self, data):
        loss, labels, probs = self.minimize(
            lambda: self.compute_losses(data, True, self.optimizer.iterations),
            self.classifier.trainable_variables)
        return self._update_metrics(loss, labels, probs)

    def test_step(self, data):
        loss, labels, probs = self.compute_losses(data, False, 0)
        return self._update_metrics(loss, labels, probs)

    def _update_metrics(self, loss, labels, probs):
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(labels, probs)
        return self.results()
