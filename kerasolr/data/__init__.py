"""Datasets and tf.data pipelines."""
