"""Evaluation of classifiers, probes and slot embeddings (paper section 4.1)."""
