"""Reconstruction quality: per-channel SSIM and PSNR of decoded images (paper section 4.4)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerasolr.losses import ssim_per_channel


def reconstruction_metrics(targets, images, prefix: str = "recon",
                           filter_size: int = 11) -> dict[str, float]:
    """SSIM (mean over colour channels and images) and PSNR of images in [0, 1].

    Args:
        targets: `(n, h, w, 3)` reference images in [0, 1].
        images: `(n, h, w, 3)` reconstructions in [0, 1] (the `Rescale` output).
        prefix: Key prefix.
        filter_size: SSIM window side (clipped to the image).

    Returns:
        `{<prefix>.ssim, <prefix>.psnr}` (PSNR in dB, averaged over images).
    """
    targets = tf.convert_to_tensor(np.asarray(targets, np.float32))
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    if targets.shape != images.shape:
        raise ValueError(f"targets {targets.shape} and reconstructions {images.shape} differ")
    ssim = ssim_per_channel(targets, images, 1.0, filter_size)
    psnr = tf.image.psnr(targets, images, max_val=1.0)
    return {f"{prefix}.ssim": float(tf.reduce_mean(ssim)),
            f"{prefix}.psnr": float(tf.reduce_mean(psnr))}
