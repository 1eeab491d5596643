"""How fast and how well the section 4.4 decoder learns, for a few decoder settings.

Trains only the OLR decoder (frozen embeddings of an existing run) once per
setting and prints the validation SSIM of the [0, 1] output after every epoch
and the seconds per epoch. Used to size the demo's decoder for a 2-core CPU.
The choice is made on the validation split; the test split is not read.

    python benchmarks/decoder_sweep.py --run runs/demo --epochs 10 \
        --setting 'as_run:{}' \
        --setting 'quarter_lr1e-3:{"dense_channels":128,"transpose_channels":[32,16,16,16,16],
                   "conv_channels":[16,16,16,16,8],"learning_rate":1e-3}'

`NAME:{}` trains the run's own decoder config; given fields replace its values.
Settings may turn on the sharper-decoding terms, e.g.
`--setting 'fm:{"feature_weight":1.0}' --setting 'gan:{"adversarial_weight":0.05}'`.
Last line: `best=<name> ssim=<s>` (chosen on validation SSIM; the sharpness and
the classifier's accuracy on the reconstructions are printed beside it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr.data import pipeline
from kerasolr.models.decoder import decode, decoder_from_config
from kerasolr.rundir import RunDir
from kerasolr.training import fit_reconstruction


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.time() - self.start


def laplacian_energy(images) -> float:
    """Mean absolute 4-neighbour Laplacian of `(n, h, w, 3)` images."""
    x = np.asarray(images, np.float64)
    lap = (4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2]
           - x[:, 1:-1, 2:])
    return float(np.mean(np.abs(lap)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run directory with embeddings/")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--setting", action="append", required=True,
                        help="NAME:JSON of DecoderConfig fields (repeatable)")
    parser.add_argument("--val-images", type=int, default=1000)
    args = parser.parse_args()

    run = RunDir(args.run)
    config = run.read_config()
    d = config.data
    train_emb = run.load_embeddings("train")
    val_emb = run.load_embeddings("validation")
    names = run.label_names()
    k = train_emb["embeddings"].shape[-1]
    images = pipeline.load_split(d, "train", cache=True).map(lambda e: e["image"])
    val = pipeline.take(pipeline.load_split(d, "validation"), args.val_images)
    classifier = run.load_model("classifier")
    finals = {}
    for item in args.setting:
        name, _, raw = item.partition(":")
        fields = json.loads(raw or "{}")
        fields = {key: tuple(v) if isinstance(v, list) else v for key, v in fields.items()}
        dec = dataclasses.replace(config.decoder, epochs=args.epochs, **fields)
        keras.utils.set_random_seed(config.seed)
        train = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(train_emb["embeddings"]),
                                     images)).shuffle(min(20000, d.num_train), seed=0)
        train = train.batch(dec.batch_size).prefetch(tf.data.AUTOTUNE)
        val_ds = tf.data.Dataset.from_tensor_slices(
            (val_emb["embeddings"][:len(val["image"])], val["image"])).batch(256)

        def build(dec=dec):
            return decoder_from_config(dec, (len(names), k), d.image_size)

        decoder, history = fit_reconstruction(dec, build, train, val_ds,
                                              tf.distribute.get_strategy(), [EpochTimer()],
                                              verbose=0, classifier=classifier)
        ssims = [round(v, 4) for v in history["val_ssim"]]
        # How much label content survives: the run's classifier on the
        # reconstructions (padded back to full size by edge replication).
        recon = decode(decoder, val_emb["embeddings"][:len(val["image"])])
        pad = (d.image_size - recon.shape[1]) // 2
        padded = np.pad(recon, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
        probs = classifier.predict(padded, verbose=0, batch_size=256)
        label_acc = float(np.mean((probs > 0.5) == (val["clean_labels"] > 0.5)))
        # Sharpness: the mean absolute Laplacian of the reconstructions over that
        # of the same real images (1 = as sharp as the real ones).
        real = val["image"][:, 1:-1, 1:-1]
        sharpness = float(laplacian_energy(recon) / laplacian_energy(real))
        seconds = history["seconds"]
        later = sum(seconds[1:]) / max(1, len(seconds) - 1)
        print(f"{name}: val_ssim by epoch {ssims}; {later:.1f} s/epoch after the first "
              f"({seconds[0]:.1f} s); classifier accuracy on reconstructions {label_acc:.4f}; "
              f"sharpness {sharpness:.3f}", flush=True)
        finals[name] = ssims[-1]
    best = max(finals, key=finals.get)
    print(f"best={best} ssim={finals[best]:.4f}")


if __name__ == "__main__":
    main()
