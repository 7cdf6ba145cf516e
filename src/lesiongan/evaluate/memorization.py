"""Memorization tests: does the generator copy its training images?

* C_T, the data-copying test of Meehan, Chaudhuri & Dasgupta (AISTATS 2020), as written and as
  the authors ran it on a GAN of ImageNet classes (``BigGan_test.py`` of casey-meehan/
  data-copying): per class, the features are reduced to 64 principal components fitted on the
  class's training samples T, and T is partitioned by k-means into 3 cells; in every cell that
  holds more than tau x m = 20 of the m generated samples Q (tau = 20/m), the distances of the
  generated samples and of held-out real test samples P to their nearest training sample in the
  cell are compared with a Mann-Whitney U test, z-scored under H0 (``Z_U``, continuity
  correction included); the cells are combined weighted by their share of test samples:
  ``C_T = sum_pi P(pi) Z_U(pi) / sum_pi P(pi)``. The training side holds the training images
  only (no flipped copies). ``C_T << 0`` (e.g. below -3): generated samples sit closer to the
  training set than fresh real samples do, i.e. data copying; ``C_T >> 0``: they sit farther
  away (underfitting); near 0: neither. Reported per class and pooled over every class's cells
  (the partition class x cell, weights the test shares). ``ct_p_value`` is ours, not the
  paper's: the one-sided p-value for copying (weighted Stouffer combination of the z-scores).
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


CT_CELLS = 3  # per class, as the authors' ImageNet-class experiment
CT_MIN_GENERATED = 20  # tau = 20 / m: a cell counts with more than 20 generated samples
CT_PCA_DIMS = 64


@dataclass
class _Cells:
    """Z_U and test share (weight) of every cell that counts, and the cells' count."""

    z: list[float]
    weight: list[float]
    n_cells: int


def _ct_cells(
    train: np.ndarray,
    test: np.ndarray,
    gen: np.ndarray,
    n_cells: int,
    min_generated: int,
    pca_dims: int,
    seed: int,
) -> _Cells:
    """One class's cells: PCA fitted on its training samples, k-means on them, Z_U per cell."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    dims = min(pca_dims, len(train) - 1, train.shape[1])
    if dims >= 1 and train.shape[1] > dims:
        pca = PCA(n_components=dims, random_state=seed).fit(train.astype(np.float64))
        train, test, gen = (pca.transform(x.astype(np.float64)) for x in (train, test, gen))
    k = max(1, min(n_cells, len(train)))
    if k > 1:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(train.astype(np.float64))
        t_cells = km.labels_
        p_cells, q_cells = km.predict(test.astype(np.float64)), km.predict(gen.astype(np.float64))
    else:
        t_cells, p_cells, q_cells = (np.zeros(len(x), int) for x in (train, test, gen))
    cells = _Cells([], [], k)
    for c in range(k):
        p, q = test[p_cells == c], gen[q_cells == c]
        if len(q) <= min_generated or len(p) == 0:
            continue  # outside Pi_tau, or a cell without test samples (the authors' code stops)
        cells.z.append(_zu(train[t_cells == c], p, q))
        cells.weight.append(float(len(p)))  # counts; normalized by the total test size below
    return cells


def _combine(cells: list[_Cells], n_test: int) -> CTResult:
    z = np.array([v for c in cells for v in c.z])
    w = np.array([v for c in cells for v in c.weight]) / max(n_test, 1)
    n_cells = sum(c.n_cells for c in cells)
    if not len(z):
        return CTResult(float("nan"), float("nan"), n_cells, 0, [])
    statistic = float(w @ z / w.sum())
    p_value = float(norm.cdf(w @ z / math.sqrt(float(w @ w))))
    return CTResult(statistic, p_value, n_cells, len(z), [float(v) for v in z])


def compute_ct(
    train: np.ndarray,
    test: np.ndarray,
    gen: np.ndarray,
    n_cells: int = CT_CELLS,
    min_generated: int = CT_MIN_GENERATED,
    seed: int = 0,
    pca_dims: int = CT_PCA_DIMS,
) -> CTResult:
    """Meehan et al.'s C_T of one class (or of unlabelled samples)."""
    cells = _ct_cells(train, test, gen, n_cells, min_generated, pca_dims, seed)
    return _combine([cells], len(test))


def compute_ct_by_class(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    gen: tuple[np.ndarray, np.ndarray],
    classes: list[str],
    n_cells: int = CT_CELLS,
    min_generated: int = CT_MIN_GENERATED,
    seed: int = 0,
    pca_dims: int = CT_PCA_DIMS,
) -> tuple[CTResult, dict[str, CTResult]]:
    """C_T per class and pooled over every class's cells; each argument is (features, labels)."""
    per: dict[str, CTResult] = {}
    all_cells = []
    for c in classes:
        t, p, q = (x[np.asarray(lab) == c] for x, lab in (train, test, gen))
        if len(t) < 2 or len(p) == 0 or len(q) == 0:
            per[c] = CTResult(float("nan"), float("nan"), 0, 0, [])
            continue
        cells = _ct_cells(t, p, q, n_cells, min_generated, pca_dims, seed)
        per[c] = _combine([cells], len(p))
        all_cells.append(cells)
    return _combine(all_cells, len(test[0])), per


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
