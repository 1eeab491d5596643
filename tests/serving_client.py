"""Subprocess helper for test_export.py: a client of the SavedModel that cannot
import kerasolr (TensorFlow only), as on a serving machine.

    serving_client.py EXPORT_DIR INPUTS.npz OUTPUTS.npz
Runs every endpoint on the inputs and writes what they return.
"""

import sys

sys.modules["kerasolr"] = None      # any `import kerasolr` now fails

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

export_dir, inputs_path, outputs_path = sys.argv[1:4]
model = tf.saved_model.load(export_dir)
signatures = model.signatures
with np.load(inputs_path) as data:
    x = {name: data[name] for name in data.files}
out = {}
for name, value in signatures["embed"](images=tf.constant(x["images"])).items():
    out[f"embed.{name}"] = value.numpy()
for name, value in signatures["embed_jpeg"](jpeg=tf.constant([bytes(x["jpeg"])])).items():
    out[f"embed_jpeg.{name}"] = value.numpy()
out["classify.probabilities"] = signatures["classify"](
    images=tf.constant(x["images"]))["probabilities"].numpy()
out["reconstruct.image"] = signatures["reconstruct"](
    embedding=tf.constant(x["embedding"]))["image"].numpy()
for run in (1, 2):          # the same seed twice: the same edit
    edited = signatures["edit"](images=tf.constant(x["images"]), add=tf.constant(x["add"]),
                                remove=tf.constant(x["remove"]), scale=tf.constant(x["scale"]),
                                seed=tf.constant(x["seed"]))
    out[f"edit{run}.image"] = edited["image"].numpy()
    out[f"edit{run}.embedding"] = edited["embedding"].numpy()
out["serving_default.embedding"] = signatures["serving_default"](
    images=tf.constant(x["images"]))["embedding"].numpy()
meta = signatures["metadata"]()
out["metadata.label_names"] = meta["label_names"].numpy().astype(str)
out["metadata.image_size"] = meta["image_size"].numpy()
try:
    signatures["embed_jpeg"](jpeg=tf.constant([b"not an image"]))
    out["bad_bytes_error"] = np.array("")
except tf.errors.InvalidArgumentError as err:
    out["bad_bytes_error"] = np.array(err.message)
np.savez(outputs_path, **out)
print("client done")
