"""kerasolr: Occlusion-based Latent Representations (OLR) in Keras 3.

Turns the binary labels of a multi-label image dataset into per-label
embeddings ("Converting Image Labels to Meaningful and Information-rich
Embeddings", Karatsiolis & Kamilaris). Import submodules directly, e.g.
`from kerasolr.models import build_encoder`; importing `kerasolr` itself
stays cheap (no TensorFlow import).
"""

__version__ = "0.1.0"


def from_preset(name: str):
    """A shipped ready-to-use model (`kerasolr.presets.from_preset`), e.g.
    `kerasolr.from_preset("synthfaces-64")`."""
    from kerasolr.presets import from_preset as load

    return load(name)
