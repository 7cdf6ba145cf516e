"""Multi-scale sliced Wasserstein distance (SWD) of Karras et al. 2018 (PGGAN, appendix D).

Follows the reference (``metrics/sliced_wasserstein.py`` of tkarras/progressive_growing_of_gans,
ported in facebookresearch/pytorch_GAN_zoo): each image is decomposed into a Laplacian pyramid
(5x5 binomial filter, like ``cv2.pyrDown``/``pyrUp``) from full resolution down to 16 px; from
every level, 128 random 7x7x3 neighbourhoods per image are taken as descriptors; each set's
descriptors are normalized per colour channel (its own mean and standard deviation); then the
sliced Wasserstein distance between the real and synthetic descriptors is estimated with 4 x 128
random directions. Values are reported x 1e3 as in the paper, per level and averaged. Lower is
better; it needs no pretrained network. Unlike the reference, both sets take their patches at
the same random positions, so identical sets score exactly 0 and the estimate varies less.
Because of the per-set normalization it is blind to a
global colour or brightness shift (FID and KID see those) and sensitive to texture and sharpness.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

NHOOD_PX = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_LEVEL_PX = 16
_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def pyramid_levels(size_px: int) -> list[int]:
    """Level resolutions: ``size_px``, ``size_px/2``, ... down to 16 px."""
    levels, res = [], size_px
    while res >= MIN_LEVEL_PX:
        levels.append(res)
        res //= 2
    return levels


def _pyr_down(x: np.ndarray) -> np.ndarray:
    return ndimage.convolve(x, _BINOMIAL[None, None], mode="mirror")[:, :, ::2, ::2]


def _pyr_up(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    up = np.zeros((n, c, h * 2, w * 2), x.dtype)
    up[:, :, ::2, ::2] = x
    return ndimage.convolve(up, _BINOMIAL[None, None] * 4.0, mode="mirror")


def laplacian_pyramid(images: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """uint8 NHWC -> float32 NCHW levels (band-pass; the last level is the low-pass residual)."""
    pyr = [images.transpose(0, 3, 1, 2).astype(np.float32)]
    for _ in range(1, n_levels):
        pyr.append(_pyr_down(pyr[-1]))
        pyr[-2] -= _pyr_up(pyr[-1])
    return pyr


def _descriptors(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``NHOODS_PER_IMAGE`` random 7x7 neighbourhoods of every image: (N*128, 3, 7, 7)."""
    n, c, h, w = level.shape
    half = NHOOD_PX // 2
    count = NHOODS_PER_IMAGE * n
    nh, ch, dy, dx = np.ogrid[0:count, 0:c, -half : half + 1, -half : half + 1]
    img = nh // NHOODS_PER_IMAGE
    x = dx + rng.integers(half, w - half, size=(count, 1, 1, 1))
    y = dy + rng.integers(half, h - half, size=(count, 1, 1, 1))
    return level[img, ch, y, x]


def compute_descriptors(
    images: np.ndarray, rng: np.random.Generator, chunk: int = 256
) -> list[np.ndarray]:
    """Normalized descriptors of every pyramid level, (N*128, 147) each."""
    levels = pyramid_levels(images.shape[1])
    per_level: list[list[np.ndarray]] = [[] for _ in levels]
    for start in range(0, len(images), chunk):
        pyr = laplacian_pyramid(images[start : start + chunk], len(levels))
        for i, lev in enumerate(pyr):
            per_level[i].append(_descriptors(lev, rng))
    out = []
    for parts in per_level:
        d = np.concatenate(parts)
        d -= d.mean(axis=(0, 2, 3), keepdims=True)
        d /= d.std(axis=(0, 2, 3), keepdims=True) + 1e-8
        out.append(d.reshape(len(d), -1))
    return out


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Mean over random unit directions of the 1-D Wasserstein distance of the projections.

    Sets of different sizes are compared on a random subset of the larger one.
    """
    n = min(len(a), len(b))
    if len(a) > n:
        a = a[rng.choice(len(a), n, replace=False)]
    if len(b) > n:
        b = b[rng.choice(len(b), n, replace=False)]
    results = []
    for _ in range(DIR_REPEATS):
        dirs = rng.standard_normal((a.shape[1], DIRS_PER_REPEAT)).astype(np.float32)
        dirs /= np.sqrt((dirs**2).sum(0, keepdims=True))
        pa, pb = np.sort(dirs.T @ a.T, axis=1), np.sort(dirs.T @ b.T, axis=1)  # contiguous rows
        results.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(results))


def compute_swd(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> dict[str, float]:
    """SWD x 1e3 per pyramid level (``swd_level_<res>px``) and averaged (``swd``)."""
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"image sizes differ: {real.shape[1:]} vs {fake.shape[1:]}")
    if len(real) == 0 or len(fake) == 0:
        return {"swd": float("nan")}
    # the same patch positions in both sets (common random numbers): identical sets give 0
    desc_real = compute_descriptors(real, np.random.default_rng([seed, 1]))
    desc_fake = compute_descriptors(fake, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])
    out = {}
    for res, a, b in zip(pyramid_levels(real.shape[1]), desc_real, desc_fake):
        out[f"swd_level_{res}px"] = sliced_wasserstein(a, b, rng) * 1e3
    out["swd"] = float(np.mean(list(out.values())))
    return out
