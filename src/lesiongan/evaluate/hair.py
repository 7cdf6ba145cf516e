"""Hair detection after DullRazor (Lee et al. 1997), and per-image hair statistics.

A hair is a thin dark curve. A grey-level closing with a line structuring element that crosses
a hair fills it; taking the largest closing over four orientations (0, 45, 90, 135 degrees)
fills every thin dark line but not the lesion, whose dark area is wider than the element in
every direction. The difference to the image (a generalized black-hat) is thresholded; of the
connected components only the thin elongated ones are kept (skeleton at least ``min_length`` of
the image side long, mean width below ``max_width``), which removes dots, globules and noise.

Per image: ``hair_fraction`` (share of pixels in the hair mask), ``hair_components`` (number of
thin elongated components) and ``hair_length`` (total skeleton length in image sides). All
lengths scale with the image, so images of any size are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from lesiongan.utils.parallel import ProgressFn


@dataclass(frozen=True)
class HairParams:
    line_length: float = 0.06  # structuring element, in image sides (at least 5 px)
    threshold: float = 0.10  # black-hat response on grey levels in [0, 1]
    min_length: float = 0.12  # skeleton length of a hair component, in image sides
    max_width: float = 0.02  # mean width (area / skeleton length), in image sides (at least 2 px)


@dataclass(frozen=True)
class HairStats:
    hair_fraction: float
    hair_components: int
    hair_length: float


def _line_footprints(length: int) -> list[np.ndarray]:
    eye = np.eye(length, dtype=bool)
    horiz = np.zeros((length, length), bool)
    horiz[length // 2] = True
    return [horiz, horiz.T, eye, eye[::-1]]


def black_hat(gray: np.ndarray, params: HairParams = HairParams()) -> np.ndarray:
    """max over orientations of the line closing, minus the image (float, >= 0)."""
    side = min(gray.shape)
    length = max(5, round(params.line_length * side) | 1)
    closed = np.max(
        [
            ndimage.grey_closing(gray, footprint=fp, mode="reflect")
            for fp in _line_footprints(length)
        ],
        axis=0,
    )
    return closed - gray


def compute_hair_mask(
    image: np.ndarray, params: HairParams = HairParams()
) -> tuple[np.ndarray, HairStats]:
    """Hair mask (bool HxW) and statistics of one uint8 RGB image."""
    gray = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    side = min(gray.shape)
    candidates = black_hat(gray, params) > params.threshold
    labels, n = ndimage.label(candidates, structure=np.ones((3, 3), bool))
    mask = np.zeros_like(candidates)
    if n == 0:
        return mask, HairStats(0.0, 0, 0.0)
    skeleton = skeletonize(candidates)
    idx = np.arange(1, n + 1)
    area = ndimage.sum_labels(candidates, labels, idx)
    skel = ndimage.sum_labels(skeleton, labels, idx)
    width = area / np.maximum(skel, 1)
    keep = (skel >= params.min_length * side) & (width <= max(2.0, params.max_width * side))
    kept = idx[keep]
    mask = np.isin(labels, kept)
    return mask, HairStats(float(mask.mean()), int(keep.sum()), float(skel[keep].sum() / side))


def compute_hair_stats(
    images: np.ndarray, params: HairParams = HairParams(), progress: ProgressFn | None = None
) -> tuple[np.ndarray, list[HairStats]]:
    """Masks (N x H x W) and statistics of uint8 NHWC images."""
    masks = np.zeros(images.shape[:3], bool)
    stats = []
    for i, img in enumerate(images):
        masks[i], s = compute_hair_mask(img, params)
        stats.append(s)
        if progress:
            progress(i + 1, len(images))
    return masks, stats


def pixel_precision_recall(
    masks: np.ndarray, truth: np.ndarray, tolerance_px: int = 1
) -> tuple[float, float]:
    """Precision and recall of hair pixels; a detection within ``tolerance_px`` of a true hair
    pixel counts as correct, and a true pixel within it of a detection as found (hairs are 1-2 px
    wide, so a one-pixel offset of an antialiased edge is not an error)."""
    st = ndimage.generate_binary_structure(2, 2)
    tp_p = fp = tp_r = fn = 0
    for m, t in zip(masks, truth):
        near_t = ndimage.binary_dilation(t, st, iterations=tolerance_px) if tolerance_px else t
        near_m = ndimage.binary_dilation(m, st, iterations=tolerance_px) if tolerance_px else m
        tp_p += int((m & near_t).sum())
        fp += int((m & ~near_t).sum())
        tp_r += int((t & near_m).sum())
        fn += int((t & ~near_m).sum())
    precision = tp_p / (tp_p + fp) if tp_p + fp else float("nan")
    recall = tp_r / (tp_r + fn) if tp_r + fn else float("nan")
    return precision, recall
