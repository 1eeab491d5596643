"""Why the label layer starts small and the Siamese learning rate is 1e-4.

Fits the OLR objective on ONE fixed batch of 64 synthfaces pairs (no
occlusion) for 150 steps, for several label-layer initial scales and Adam
learning rates. A working setup drives the loss towards 0 on a single batch;
the constant-output collapse sits near the variance of the targets (~0.07).
The classifier is trained briefly first (2,000 images, 3 epochs).

Usage (about 4 minutes on 2 CPU cores):
    python benchmarks/overfit_one_batch.py
Prints one line per setting: initial scale, learning rate, loss every 30 steps.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasolr.data import synthfaces
from kerasolr.models import OLRModel, build_classifier, build_encoder
from kerasolr.models.siamese import LABEL_LAYER_INIT_SCALE

SETTINGS = [(1.0, 1e-3), (0.01, 1e-3), (1.0, 1e-4), (0.01, 1e-4)]  # (init scale, Adam lr)


def main():
    data = synthfaces.generate(0, 2000, image_size=64)
    keras.utils.set_random_seed(0)
    classifier = build_classifier(16, 64)
    classifier.compile(optimizer="adam", loss="binary_crossentropy")
    classifier.fit(data["image"], data["labels"], epochs=3, batch_size=64, verbose=0)
    pairs = data["image"][:128].reshape(64, 2, 64, 64, 3)
    for scale, lr in SETTINGS:
        keras.utils.set_random_seed(0)
        encoder = build_encoder(16, 16, 64)
        kernel, bias = encoder.get_layer("label_groups").get_weights()
        # build_encoder's kernel has the default small scale; rescale to the tested one.
        kernel = kernel * np.sqrt(scale / LABEL_LAYER_INIT_SCALE)
        encoder.get_layer("label_groups").set_weights([kernel, bias])
        model = OLRModel(encoder, classifier, occlusion="none")
        model.compile(optimizer=keras.optimizers.Adam(lr))
        history = model.fit(pairs, batch_size=64, epochs=150, verbose=0, shuffle=False)
        losses = history.history["loss"]
        print(f"init_scale={scale:<5} lr={lr:<6} loss@0,30,..,150: "
              + " ".join(f"{v:.4f}" for v in losses[::30]) + f" final={losses[-1]:.4f}",
              flush=True)


if __name__ == "__main__":
    main()
