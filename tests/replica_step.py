"""Subprocess helper for test_distribute.py: one optimizer step under 1 and 2 replicas.

Run as a script (it must configure two logical CPUs before TensorFlow starts).
Prints one JSON line with the largest weight difference between the 1-device
and the 2-replica update, and the size of the update itself.
"""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402

from kerasolr.models import (  # noqa: E402
    OccludedClassifierTrainer,
    OLRModel,
    build_classifier,
    build_encoder,
)

L, K, S = 4, 3, 16
rng = np.random.default_rng(0)
pairs = rng.random((8, 2, S, S, 3), dtype=np.float32)
images = pairs.reshape(16, S, S, 3)
labels = (rng.random((16, L)) > 0.5).astype(np.float32)


def one_step(strategy, which, init=None):
    with strategy.scope():
        keras.utils.set_random_seed(1)
        classifier = build_classifier(L, S, (4, 8), 8)
        encoder = build_encoder(L, K, S, (4, 8))
        if init is not None:
            classifier.set_weights(init[0])
            encoder.set_weights(init[1])
        start = (classifier.get_weights(), encoder.get_weights())
        if which == "olr":
            model = OLRModel(encoder, classifier, occlusion="rectangle", occlusion_rate=0.5,
                             seed=3)
            data = tf.data.Dataset.from_tensors(pairs)
            watched = encoder
        else:
            model = OccludedClassifierTrainer(classifier, occlusion_rate=0.5, seed=3)
            data = tf.data.Dataset.from_tensors((images, labels))
            watched = classifier
        model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(data, epochs=1, verbose=0)
    return start, [w.copy() for w in watched.get_weights()], start[1 if which == "olr" else 0]


result = {}
# One strategy object for the whole process: collective keys are per strategy.
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
for which in ("olr", "classifier"):
    init, single, before = one_step(tf.distribute.get_strategy(), which)
    _, double, _ = one_step(mirrored, which, init)
    result[which] = {
        "max_diff": max(float(np.abs(a - b).max()) for a, b in zip(single, double, strict=True)),
        "max_update": max(float(np.abs(a - b).max()) for a, b in zip(single, before, strict=True)),
    }
print(json.dumps(result))
sys.stdout.flush()
