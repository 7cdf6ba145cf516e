"""Within-class diversity: mean MS-SSIM over random pairs of images of one class.

Odena et al. 2017 (AC-GAN) and Karras et al. 2018 (PGGAN) measure mode collapse this way: two
images of a collapsed class look alike, so their multi-scale structural similarity (Wang et al.
2003) is high. Lower is more diverse; compare with the same number for the real images of the
class (the floor). torchmetrics computes MS-SSIM (11x11 Gaussian window, sigma 1.5). The five
standard scales need images of at least 176 px; smaller images use fewer scales (the coarsest
one at least 16 px) with the standard exponents of the finest scales, renormalized to sum 1.
"""

from __future__ import annotations

import numpy as np
import torch

BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
KERNEL_PX = 11


def ms_ssim_scales(size_px: int) -> int:
    """Scales that fit: torchmetrics' size rule and a coarsest scale of at least 16 px."""
    n = len(BETAS)
    while n > 1 and (
        size_px // max(1, (n - 1) ** 2) <= KERNEL_PX - 1 or size_px // 2 ** (n - 1) < 16
    ):
        n -= 1
    return n


def compute_pair_ms_ssim(a: np.ndarray, b: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """MS-SSIM of each pair (a[i], b[i]), uint8 NHWC inputs, one value per pair."""
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure as ms_ssim,
    )
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    n = ms_ssim_scales(a.shape[1])
    betas = tuple(float(x) for x in np.array(BETAS[:n]) / sum(BETAS[:n]))
    out = []
    for s in range(0, len(a), batch_size):
        x = torch.from_numpy(a[s : s + batch_size]).permute(0, 3, 1, 2).float() / 255.0
        y = torch.from_numpy(b[s : s + batch_size]).permute(0, 3, 1, 2).float() / 255.0
        if n == 1:
            v = ssim(x, y, data_range=1.0, reduction="none")
        else:
            v = ms_ssim(x, y, data_range=1.0, betas=betas, reduction="none", normalize="relu")
        out.append(v.reshape(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def compute_class_ms_ssim(images: np.ndarray, n_pairs: int, rng: np.random.Generator) -> float:
    """Mean MS-SSIM over ``n_pairs`` random pairs of distinct images (nan below 2 images)."""
    if len(images) < 2:
        return float("nan")
    i = rng.integers(0, len(images), n_pairs)
    j = (i + rng.integers(1, len(images), n_pairs)) % len(images)  # never the same image
    return float(compute_pair_ms_ssim(images[i], images[j]).mean())
