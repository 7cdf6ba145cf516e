"""Memorization tests: does the generator copy its training images?

* C_T, the data-copying test of Meehan, Chaudhuri & Dasgupta (AISTATS 2020): partition the
  training set T with k-means; in every cell with enough samples, compare the distances of the
  generated samples Q and of held-out real test samples P to their nearest training sample in
  the cell with a Mann-Whitney U test, z-scored under H0 (``Z_U``); combine the cells weighted
  by their share of test samples: ``C_T = sum_pi P(pi) Z_U(pi) / sum_pi P(pi)`` (as in the
  authors' code, continuity correction included). ``C_T << 0`` (e.g. below -3): generated
  samples sit closer to the training set than fresh real samples do, i.e. data copying;
  ``C_T >> 0``: they sit farther away (underfitting); near 0: neither. ``ct_p_value`` is the
  one-sided p-value for copying (weighted Stouffer combination of the cells' z-scores).
* Authenticity of Alaa et al. (ICML 2022): a synthetic sample is unauthentic when it is closer
  to its nearest training sample than that training sample's own nearest training neighbour;
  authenticity is the share of authentic samples (higher is better). The same number for the
  held-out real test images is the floor that an ideal generator would reach.
* Near-duplicates: synthetic images whose nearest training image (in pixel space, allowing
  flips) is closer than ``dup_ratio`` x the median test-to-train distance, or whose SSIM with
  it is at least ``dup_ssim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu, norm

from lesiongan.evaluate.neighbors import nearest_neighbors

DUP_RATIO = 0.3
DUP_SSIM = 0.95


@dataclass
class CTResult:
    statistic: float
    p_value: float
    n_cells: int
    n_cells_used: int
    cell_z: list[float]


def _zu(train: np.ndarray, test: np.ndarray, gen: np.ndarray) -> float:
    d_test = nearest_neighbors(test, train, 1)[0][:, 0]
    d_gen = nearest_neighbors(gen, train, 1)[0][:, 0]
    m, n = len(d_test), len(d_gen)
    u = mannwhitneyu(d_gen, d_test, alternative="less").statistic  # pairs with gen > test
    mean = n * m / 2 - 0.5
    std = math.sqrt(n * m * (n + m + 1) / 12)
    return float((u - mean) / std)


def default_ct_cells(n_test: int) -> int:
    """About 25 test samples per cell, between 1 and 20 cells."""
    return max(1, min(20, n_test // 25))


def compute_ct(
    train: np.ndarray,
    test: np.ndarray,
    gen: np.ndarray,
    n_cells: int | None = None,
    min_per_cell: int = 5,
    seed: int = 0,
) -> CTResult:
    """Meehan et al.'s C_T; cells need ``min_per_cell`` generated and test samples to count."""
    from sklearn.cluster import KMeans

    k = min(n_cells or default_ct_cells(len(test)), len(train))
    if k > 1:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(train.astype(np.float64))
        t_cells = km.labels_
        p_cells = km.predict(test.astype(np.float64))
        q_cells = km.predict(gen.astype(np.float64))
    else:
        t_cells, p_cells, q_cells = (np.zeros(len(x), int) for x in (train, test, gen))
    weights, zs = [], []
    for c in range(k):
        p, q = test[p_cells == c], gen[q_cells == c]
        if len(p) < min_per_cell or len(q) < min_per_cell:
            continue
        zs.append(_zu(train[t_cells == c], p, q))
        weights.append(len(p) / len(test))
    if not zs:
        return CTResult(float("nan"), float("nan"), k, 0, [])
    w, z = np.array(weights), np.array(zs)
    statistic = float(w @ z / w.sum())
    p_value = float(norm.cdf(w @ z / math.sqrt(float(w @ w))))
    return CTResult(statistic, p_value, k, len(zs), [float(v) for v in z])


def compute_authenticity(
    train: np.ndarray, gen: np.ndarray, groups: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Share of authentic samples, and the per-sample verdicts (True = authentic).

    ``groups``: rows of ``train`` with the same group (an image and its flips) are not each
    other's neighbours when the training samples' own nearest-neighbour radii are measured.
    """
    groups = np.arange(len(train)) if groups is None else np.asarray(groups)
    per_group = int(np.bincount(np.unique(groups, return_inverse=True)[1]).max())
    if len(np.unique(groups)) < 2 or len(gen) == 0:
        return float("nan"), np.zeros(len(gen), bool)
    d_tt, i_tt = nearest_neighbors(train, train, per_group, exclude_self=True)
    other = groups[i_tt] != groups[:, None]  # the first neighbour from another image
    first = other.argmax(1)
    r_train = np.where(other.any(1), d_tt[np.arange(len(train)), first], np.inf)
    if not other.any(1).all():  # all k neighbours were flips of itself: search further
        missing = np.flatnonzero(~other.any(1))
        d_all, i_all = nearest_neighbors(train[missing], train, len(train) - 1)
        for row, m in enumerate(missing):
            ok = groups[i_all[row]] != groups[m]
            r_train[m] = d_all[row][ok][0]
    d, idx = nearest_neighbors(gen, train, 1)
    authentic = d[:, 0] > r_train[idx[:, 0]]
    return float(authentic.mean()), authentic


def flag_near_duplicates(
    pixel_ratio: np.ndarray,
    ssim: np.ndarray,
    dup_ratio: float = DUP_RATIO,
    dup_ssim: float = DUP_SSIM,
) -> np.ndarray:
    """Boolean per synthetic image: near-duplicate of its nearest training image."""
    return (pixel_ratio < dup_ratio) | (ssim >= dup_ssim)


def median_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """median(a) / median(b) (nan when either is empty or the denominator is 0)."""
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    den = float(np.median(b))
    return float(np.median(a)) / den if den > 0 else float("nan")
