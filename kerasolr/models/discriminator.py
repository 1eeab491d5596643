"""Sharper decoding (the paper's future work): a PatchGAN-style discriminator
and the classifier's features for a feature-matching loss.

Both are options of the OLR decoder's training beside eq. 3
(`decoder.adversarial_weight`, `decoder.feature_weight`; 0 by default and in
the `paper` preset, which keep eq. 3 alone).

Reference: Isola et al., pix2pix (2017), section 3.2 (PatchGAN); Larsen et al.
(2016) and Dosovitskiy & Brox (2016) for losses on a network's features.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def build_patch_discriminator(image_size: int, filters=(32, 64, 128),
                              name: str = "discriminator") -> keras.Model:
    """`(batch, S, S, 3)` images in [0, 1] -> `(batch, s, s, 1)` logits, one per
    overlapping patch ("is this patch real?"): stride-2 4x4 convolutions with
    LeakyReLU(0.2), then a 3x3 convolution to one channel.

    Args:
        image_size: Side of the images judged (the decoder's output side).
        filters: Filters per stride-2 block.
        name: Model name.
    """
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name=f"{name}_scale")(inputs)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", name=f"{name}_conv{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu{i}")(x)
    logits = keras.layers.Conv2D(1, 3, padding="same", name=f"{name}_logits",
                                 dtype="float32")(x)
    return keras.Model(inputs, logits, name=name)


def classifier_feature_maps(classifier: keras.Model) -> keras.Model:
    """`(batch, S, S, 3) -> [block outputs]`: the activations after every
    convolutional block of a trained classifier (`cls_relu<i>`), frozen."""
    outputs = []
    i = 0
    while True:
        try:
            outputs.append(classifier.get_layer(f"cls_relu{i}").output)
        except ValueError:
            break
        i += 1
    if not outputs:
        raise ValueError(f"{classifier.name} has no cls_relu<i> layers: not a kerasolr "
                         "classifier")
    features = keras.Model(classifier.input, outputs, name="classifier_feature_maps")
    features.trainable = False
    return features


def pad_to(images, size: int):
    """Edge-replicates `(batch, s, s, 3)` images to side `size` (the decoder's
    output is 2 pixels smaller than the classifier's input)."""
    pad = size - int(images.shape[1])
    if pad < 0 or pad % 2:
        raise ValueError(f"cannot pad side {images.shape[1]} to {size}")
    if pad == 0:
        return images
    half = pad // 2
    return tf.pad(images, [[0, 0], [half, half], [half, half], [0, 0]], mode="SYMMETRIC")


def feature_matching_loss(features: keras.Model, target, output, size: int):
    """Per image: the mean over blocks of the mean squared difference between
    the classifier's features of `target` and of `output` (both padded to the
    classifier's side `size`)."""
    real = features(pad_to(target, size), training=False)
    fake = features(pad_to(output, size), training=False)
    terms = [tf.reduce_mean(tf.square(tf.cast(r, tf.float32) - tf.cast(f, tf.float32)),
                            axis=[1, 2, 3]) for r, f in zip(real, fake, strict=True)]
    return tf.add_n(terms) / float(len(terms))
