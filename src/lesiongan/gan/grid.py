"""Image grids: one row per class, for progress snapshots and sample previews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float NCHW -> uint8 NHWC."""
    x = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def save_grid(images: torch.Tensor, rows: int, path: Path, min_tile_px: int = 64) -> np.ndarray:
    """Save a grid of ``rows`` rows; tiles smaller than ``min_tile_px`` are enlarged (nearest)."""
    n, _, h, _ = images.shape
    if h < min_tile_px:
        images = F.interpolate(images.float(), scale_factor=min_tile_px // h, mode="nearest")
    tiles = to_uint8(images)
    cols = -(-n // rows)
    th, tw = tiles.shape[1:3]
    grid = np.zeros((rows * th, cols * tw, 3), dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return grid
