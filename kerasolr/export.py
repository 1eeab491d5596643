"""A trained run as one SavedModel for TensorFlow Serving (`kerasolr export`).

Written with `keras.export.ExportArchive` in TF Serving's layout
`BASE/NAME/VERSION/`. Every endpoint is a `tensorflow/serving/predict`
signature with named inputs and outputs (S: image side, L: labels, k: slot size,
O: the decoder's output side):

    embed (also serving_default)
        images float32 (B, S, S, 3) in [0, 1] -> embedding (B, L, k), slot_norms (B, L)
    embed_jpeg
        jpeg string (B,) encoded JPEG/PNG/BMP/GIF bytes -> embedding, slot_norms
        (decoded, cropped to the central square and resized exactly as in training)
    classify
        images -> probabilities (B, L)
    reconstruct                                   (runs with a decoder)
        embedding (B, L, k) -> image (B, O, O, 3) in [0, 1]
    edit                                          (runs with a decoder)
        images, add (B, L), remove (B, L), scale (B, L), seed int64 (B,)
        -> image, embedding: per label, add > 0.5 replaces the slot by a sample
        of the label's Gaussian (baked in as constants), remove > 0.5 zeroes it,
        then every slot is multiplied by its scale (1 keeps it); the samples
        are drawn with the stateless seed (seed, label), so a request is
        reproducible
    metadata
        (no input) -> label_names string (L,), image_size, k, output_size int32

`assets/kerasolr.json` holds the same metadata for clients that read files.
Nothing on the serving side needs kerasolr or Python.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from kerasolr import editing
from kerasolr.data.images import decode, square_crop_resize
from kerasolr.rundir import RunDir, log

METADATA_FILE = "kerasolr.json"


def _slot_norms(embedding):
    return tf.norm(embedding, axis=-1)


def build_archive(encoder, classifier, names, image_size: int, decoder=None,
                  gaussians: editing.LabelGaussians | None = None):
    """The `ExportArchive` of a run's models (see the module docstring).

    Args:
        encoder: `(B, S, S, 3) -> (B, L, k)`.
        classifier: `(B, S, S, 3) -> (B, L)` probabilities.
        names: The L label names.
        image_size: S.
        decoder: Optional `(B, L, k) -> {"image", ...}` decoder.
        gaussians: The label Gaussians (needed for `edit` with a decoder).

    Returns:
        `(archive, metadata dict)`.
    """
    num_labels, k = int(encoder.output.shape[1]), int(encoder.output.shape[2])
    if num_labels != len(names):
        raise ValueError(f"the encoder has {num_labels} slots but the run has {len(names)} "
                         "labels")
    images_spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="images")
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    archive.track(classifier)

    def checked(images):
        # A signature does not check shapes itself: a wrong one must be a clear
        # InvalidArgumentError, not a kernel failure that can stop the server.
        return tf.ensure_shape(images, [None, image_size, image_size, 3])

    def embed(images):
        embedding = tf.cast(encoder(checked(images), training=False), tf.float32)
        return {"embedding": embedding, "slot_norms": _slot_norms(embedding)}

    def embed_jpeg(jpeg):
        images = tf.map_fn(
            lambda data: square_crop_resize(decode(data), image_size), jpeg,
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))
        return embed(images)

    def classify(images):
        return {"probabilities": tf.cast(classifier(checked(images), training=False),
                                         tf.float32)}

    archive.add_endpoint("embed", embed, input_signature=[images_spec])
    archive.add_endpoint("embed_jpeg", embed_jpeg,
                         input_signature=[tf.TensorSpec([None], tf.string, name="jpeg")])
    archive.add_endpoint("classify", classify, input_signature=[images_spec])

    output_size = 0
    if decoder is not None:
        archive.track(decoder)
        output_size = int(decoder.output["image"].shape[1])
        embedding_spec = tf.TensorSpec([None, num_labels, k], tf.float32, name="embedding")

        def reconstruct(embedding):
            embedding = tf.ensure_shape(embedding, [None, num_labels, k])
            return {"image": tf.cast(decoder(embedding, training=False)["image"], tf.float32)}

        archive.add_endpoint("reconstruct", reconstruct, input_signature=[embedding_spec])
        if gaussians is None:
            raise ValueError("exporting `edit` needs the run's label Gaussians")
        means = tf.constant(gaussians.means, tf.float32)                     # (L, k)
        roots = tf.constant(np.stack([gaussians.covariance_root(label)
                                      for label in range(num_labels)]), tf.float32)  # (L, k, k)
        sampled = tf.constant(np.asarray(gaussians.counts) > 0)               # (L,)
        label_spec = tf.TensorSpec([None, num_labels], tf.float32)

        def edit(images, add, remove, scale, seed):
            embedding = tf.cast(encoder(checked(images), training=False), tf.float32)
            add, remove, scale = (tf.ensure_shape(v, [None, num_labels])
                                  for v in (add, remove, scale))
            batch = tf.shape(embedding)[0]

            def one_label(label):
                seeds = tf.stack([seed, tf.fill([batch], tf.cast(label, tf.int64))], axis=1)
                normal = tf.map_fn(
                    lambda s: tf.random.stateless_normal([k], s), seeds,
                    fn_output_signature=tf.TensorSpec([k], tf.float32))
                return means[label] + tf.linalg.matvec(roots[label], normal)   # (B, k)

            samples = tf.transpose(tf.map_fn(
                one_label, tf.range(num_labels),
                fn_output_signature=tf.TensorSpec([None, k], tf.float32)), [1, 0, 2])
            adding = (add > 0.5) & sampled[None, :]
            embedding = tf.where(adding[..., None], samples, embedding)
            embedding = tf.where((remove > 0.5)[..., None], tf.zeros_like(embedding), embedding)
            embedding = embedding * scale[..., None]
            return {"image": tf.cast(decoder(embedding, training=False)["image"], tf.float32),
                    "embedding": embedding}

        archive.add_endpoint("edit", edit, input_signature=[
            images_spec, tf.TensorSpec(label_spec.shape, tf.float32, name="add"),
            tf.TensorSpec(label_spec.shape, tf.float32, name="remove"),
            tf.TensorSpec(label_spec.shape, tf.float32, name="scale"),
            tf.TensorSpec([None], tf.int64, name="seed")])

    metadata = {"label_names": list(names), "image_size": int(image_size), "k": k,
                "output_size": output_size}

    def describe():
        return {"label_names": tf.constant(list(names)),
                "image_size": tf.constant(image_size, tf.int32),
                "k": tf.constant(k, tf.int32),
                "output_size": tf.constant(output_size, tf.int32)}

    archive.add_endpoint("metadata", describe, input_signature=[])
    return archive, metadata


def export_run(run_dir: str, name: str, version: int | None = None,
               base: str = "savedmodels") -> str:
    """Exports a trained run to `BASE/NAME/VERSION/` (next free version by default).

    The SavedModel is written to a temporary folder beside it, then renamed
    into place, so an interrupted export never leaves a half version that TF
    Serving would try to load; an existing version is never overwritten.

    Returns:
        The version folder.
    """
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"bad model name {name!r}: expected one folder name")
    run = RunDir(run_dir)
    config = run.read_config()
    names = run.label_names()
    model_dir = os.path.join(base, name)
    if version is None:
        existing = [int(v) for v in os.listdir(model_dir) if v.isdigit()] \
            if os.path.isdir(model_dir) else []
        version = max(existing, default=0) + 1
    if version < 1:
        raise ValueError(f"version must be >= 1, got {version}")
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target):
        raise ValueError(f"{target} already exists; pass another --version")
    encoder = run.load_model("encoder")
    classifier = run.load_model("classifier")
    decoder, gaussians = None, None
    if run.has_model("decoder"):
        decoder = run.load_model("decoder")
        gaussians = run.label_gaussians()
    else:
        log(f"export: {run.model_path('decoder')} not found, so the export has no "
            "reconstruct and edit signatures (train it with `kerasolr train-decoder`)")
    archive, metadata = build_archive(encoder, classifier, names, config.data.image_size,
                                      decoder, gaussians)
    os.makedirs(model_dir, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".partial-{version}-", dir=model_dir)
    try:
        archive.write_out(partial, verbose=False)
        os.makedirs(os.path.join(partial, "assets"), exist_ok=True)
        with open(os.path.join(partial, "assets", METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=1)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
