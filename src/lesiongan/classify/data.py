"""Images for the classifier: loaded once into memory as uint8, augmented per batch on device.

Value ranges: stored uint8 [N, 3, S, S]; :func:`augment_batch` returns float in [0, 1];
:func:`normalize` applies the ImageNet statistics the backbones expect. Augmentation draws from
an explicit ``torch.Generator``, so a batch's augmentation is a function of (seed, epoch, step)
and an interrupted run resumes bit-identically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lesiongan.classify.config import AugmentConfig
from lesiongan.classify.models import IMAGENET_MEAN, IMAGENET_STD
from lesiongan.data.images import read_prepared_job
from lesiongan.utils.parallel import parallel_map


def load_images(
    paths: Sequence[Path],
    size: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """uint8 [N, 3, size, size]; square images resized (prepared images are square already)."""
    if not paths:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    arrays = parallel_map(
        read_prepared_job, [(str(p), size) for p in paths], workers, progress=progress
    )
    return torch.from_numpy(np.stack(arrays))


def normalize(
    x: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """[0, 1] RGB -> normalized (ImageNet statistics unless the network brings its own)."""
    m = torch.tensor(tuple(mean), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(tuple(std), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255.0)


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random flips, 90-degree rotations, small affine and colour jitter of uint8 images.

    Returns float [0, 1] on ``x``'s device. Random numbers come from ``gen`` (CPU) only.
    """
    n = x.shape[0]
    out = to_unit(x)
    if cfg.flips:
        out = _where(torch.rand(n, generator=gen) < 0.5, out.flip(3), out)
        out = _where(torch.rand(n, generator=gen) < 0.5, out.flip(2), out)
    if cfg.rot90 and out.shape[2] == out.shape[3]:
        k = torch.randint(0, 4, (n,), generator=gen)
        rotated = out.clone()
        for turns in (1, 2, 3):
            sel = (k == turns).to(out.device)
            if sel.any():
                rotated[sel] = torch.rot90(out[sel], turns, dims=(2, 3))
        out = rotated
    out = _affine(out, cfg, gen)
    return _colour(out, cfg, gen).clamp_(0.0, 1.0)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.to(a.device).view(-1, 1, 1, 1), a, b)


def _affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    lo, hi = cfg.scale
    theta = None
    if cfg.degrees or cfg.translate or not lo == hi == 1.0:
        angle = _uniform(gen, n, -cfg.degrees, cfg.degrees) * (math.pi / 180)
        scale = _uniform(gen, n, lo, hi)
        shift = _uniform(gen, 2 * n, -cfg.translate, cfg.translate).view(n, 2) * 2  # grid: [-1, 1]
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        )
    if cfg.crop != (1.0, 1.0):  # the rotation/zoom/shift act within the crop
        crop = _crop_theta(n, cfg, gen)
        theta = crop if theta is None else _compose(crop, theta)
    return x if theta is None else _resample(x, theta.to(x.device, x.dtype))


def _resample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # reflection keeps the skin texture at the borders instead of black corners
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _crop_theta(n: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random resized crops as affine maps [n, 2, 3] (output grid -> input grid, in [-1, 1]):
    area share in ``cfg.crop``, log-uniform aspect ratio in ``cfg.crop_ratio``, window inside
    the image. Drawn after the other affine numbers, so turning it on changes nothing else."""
    area = _uniform(gen, n, *cfg.crop)
    lo, hi = math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])
    ratio = torch.exp(_uniform(gen, n, lo, hi))
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # half-widths in grid units (1 = whole image)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - h)
    zero = torch.zeros(n)
    return torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)


def _compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The affine map ``outer(inner(p))`` of two [n, 2, 3] maps."""
    a = outer[:, :, :2] @ inner[:, :, :2]
    b = outer[:, :, :2] @ inner[:, :, 2:] + outer[:, :, 2:]
    return torch.cat([a, b], 2)


# RGB <-> YIQ: hue is a rotation of the (I, Q) chroma plane
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_RGB = torch.linalg.inv(_YIQ)


def _colour(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    if not (cfg.brightness or cfg.contrast or cfg.saturation or cfg.hue):
        return x
    b = _uniform(gen, n, 1 - cfg.brightness, 1 + cfg.brightness).to(x.device).view(n, 1, 1, 1)
    c = _uniform(gen, n, 1 - cfg.contrast, 1 + cfg.contrast).to(x.device).view(n, 1, 1, 1)
    s = _uniform(gen, n, 1 - cfg.saturation, 1 + cfg.saturation).to(x.device).view(n, 1, 1)
    h = _uniform(gen, n, -cfg.hue, cfg.hue) * (2 * math.pi)
    x = x * b
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    # saturation scales and hue rotates the chroma plane, in one 3x3 matrix per image
    cos, sin = torch.cos(h), torch.sin(h)
    rot = torch.zeros(n, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    rot = rot.to(x.device) * torch.cat([torch.ones(n, 1, 1, device=x.device), s, s], 1)
    m = (_RGB.to(x.device) @ rot @ _YIQ.to(x.device)).to(x.dtype)
    return torch.einsum("nij,njhw->nihw", m, x)
