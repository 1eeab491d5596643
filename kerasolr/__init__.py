"""kerasolr: Occlusion-based Latent Representations (OLR) in Keras 3.

Turns the binary labels of a multi-label image dataset into per-label
embeddings ("Converting Image Labels to Meaningful and Information-rich
Embeddings", Karatsiolis & Kamilaris). Import submodules directly, e.g.
`from kerasolr.models import build_encoder`; importing `kerasolr` itself
stays cheap (no TensorFlow import).
"""

__version__ = "0.1.0"
