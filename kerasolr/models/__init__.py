"""Classifier, Siamese encoder and the OLR training models."""

from kerasolr.models.classifier import OccludedClassifierTrainer, build_classifier
from kerasolr.models.siamese import OLRModel, build_encoder, copy_trunk_weights

__all__ = [
    "OLRModel", "OccludedClassifierTrainer", "build_classifier", "build_encoder",
    "copy_trunk_weights",
]
