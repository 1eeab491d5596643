"""Representations taken from models an OLR run already trained.

- `classifier_features`: the classifier's penultimate layer (`cls_dense`,
  after its ReLU), what users would otherwise take as "the embedding".
- `autoencoder_codes`: the bottleneck (`ae_bottleneck`) of the run's plain
  autoencoder (`decoder.baselines`), a code of `L x k` numbers trained end to
  end on reconstruction alone.
"""

from __future__ import annotations

import keras


def _sub_model(model: keras.Model, layer: str, name: str) -> keras.Model:
    try:
        output = model.get_layer(layer).output
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer {layer!r}: not a kerasolr "
                         f"{name.split('_')[0]}") from None
    return keras.Model(model.input, output, name=name)


def classifier_features(classifier: keras.Model) -> keras.Model:
    """`(batch, S, S, 3) -> (batch, dense_units)`: the classifier's penultimate features."""
    return _sub_model(classifier, "cls_dense", "classifier_features")


def autoencoder_codes(autoencoder: keras.Model) -> keras.Model:
    """`(batch, S, S, 3) -> (batch, L * k)`: the autoencoder's bottleneck."""
    return _sub_model(autoencoder, "ae_bottleneck", "autoencoder_codes")
