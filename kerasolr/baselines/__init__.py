"""Baselines that `kerasolr compare` evaluates beside OLR with the same code.

- `classifier_features`: the classifier's penultimate features.
- `autoencoder`: the bottleneck of a plain autoencoder of `L x k` units.
- `beta_vae`: the mean of a beta-VAE's `q(z|x)` with `L x k` dimensions.
- `pse`: the mean of PSE's `q(z|x)` (label-conditioned VAE, its eq. 2).
"""

from kerasolr.baselines.features import autoencoder_codes, classifier_features
from kerasolr.baselines.pse import annotate, candidate_label_sets, gaussian_log_likelihoods
from kerasolr.baselines.vae import (
    VAETrainer,
    build_gaussian_encoder,
    build_label_encoder,
    fit_vae,
)

MODELS = ("olr", "classifier_output", "classifier_features", "autoencoder", "beta_vae", "pse")

__all__ = [
    "MODELS", "VAETrainer", "annotate", "autoencoder_codes", "build_gaussian_encoder",
    "build_label_encoder", "candidate_label_sets", "classifier_features", "fit_vae",
    "gaussian_log_likelihoods",
]
