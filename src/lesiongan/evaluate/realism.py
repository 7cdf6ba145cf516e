"""Distribution metrics between two feature matrices (real ``N x D``, synthetic ``M x D``).

* FID, Fréchet distance between Gaussians fitted to the features (Heusel et al. 2017),
  computed exactly through an SVD (see [`compute_fid`][]; pinned against torch-fidelity).
  Lower is better; 0 for identical statistics.
* KID, the unbiased MMD² with the cubic polynomial kernel (Bińkowski et al. 2018), mean and
  standard deviation over random subsets, torch-fidelity's estimator and subsets (pinned in
  the tests), each kernel matrix computed once. Lower is better.
* Precision and recall (Kynkäänniemi et al. 2019, k = 3): the share of synthetic samples inside
  the real k-NN manifold (fidelity), and of real samples inside the synthetic one (diversity).
* Density and coverage (Naeem et al. 2020, k = 5): outlier-robust variants; density can exceed
  1, coverage is the share of real samples with a synthetic sample in their k-NN ball.
  Precision/recall/density/coverage follow the authors' ``prdc`` code (pinned in the tests).

Higher is better for precision, recall, density and coverage.
"""

from __future__ import annotations

import numpy as np
import torch

PR_K = 3  # Kynkäänniemi et al.
DC_K = 5  # Naeem et al.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_WHOLE_KERNEL_MAX = 6000  # rows per side up to which the kernels are kept whole (288 MB)


def compute_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """|mu_r - mu_f|^2 + tr S_r + tr S_f - 2 tr sqrt(S_r S_f), S the sample covariances.

    With S_r = A^T A and S_f = B^T B (A, B the centred features over sqrt(n - 1)), the
    eigenvalues of S_r S_f are the squared singular values of A B^T, so the trace term is the
    nuclear norm of that N x M matrix: exact, real, and cheap when the sets are smaller than the
    feature dimension. Larger sets use the symmetric form sqrt(S_r) S_f sqrt(S_r). Tests pin it
    against torch-fidelity's eigenvalue implementation.
    """
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    mu_r, mu_f = real.mean(0), fake.mean(0)
    a = (real - mu_r) / np.sqrt(len(real) - 1)
    b = (fake - mu_f) / np.sqrt(len(fake) - 1)
    if min(len(a), len(b)) <= a.shape[1]:
        tr_sqrt = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    else:
        w, v = np.linalg.eigh(a.T @ a)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        ev = np.linalg.eigvalsh(root @ (b.T @ b) @ root)
        tr_sqrt = float(np.sqrt(np.clip(ev, 0, None)).sum())
    diff = mu_r - mu_f
    fid = float(diff @ diff + (a * a).sum() + (b * b).sum() - 2.0 * tr_sqrt)
    return max(0.0, fid)  # rounding can undershoot 0 for identical sets


def compute_kid(
    real: np.ndarray, fake: np.ndarray, seed: int = 0, subsets: int = KID_SUBSETS
) -> tuple[float, float]:
    """KID mean and std over ``subsets`` random subsets of min(1000, N, M) samples.

    torch-fidelity's estimator, draws and defaults (the unbiased MMD², the cubic polynomial
    kernel with gamma = 1 / D and coef0 = 1, subsets drawn by ``RandomState(seed)`` without
    replacement, real then synthetic; the tests pin it against torch-fidelity), but each kernel
    matrix is computed once over all rows and indexed per subset, instead of three
    ``size x D x size`` products per subset, and a subset's sums are products with its 0/1
    indicator rows: 100 subsets of 800 images cost a few products.
    """
    size = min(KID_SUBSET_SIZE, len(real), len(fake))
    if size < 2:
        return float("nan"), float("nan")
    x, y = real.astype(np.float64), fake.astype(np.float64)
    gamma = 1.0 / x.shape[1]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T * gamma + 1.0) ** 3

    rng = np.random.RandomState(seed)
    m = size
    draws = [
        (rng.choice(len(x), m, replace=False), rng.choice(len(y), m, replace=False))
        for _ in range(subsets)
    ]
    if max(len(x), len(y)) <= KID_WHOLE_KERNEL_MAX:
        # a subset's kernel sum is w^T K v with w, v its 0/1 indicator rows: one product for all
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        w = np.zeros((subsets, len(x)))
        v = np.zeros((subsets, len(y)))
        for s, (i, j) in enumerate(draws):
            w[s, i], v[s, j] = 1.0, 1.0
        xx = ((w @ k_xx) * w).sum(1) - w @ np.diagonal(k_xx)
        yy = ((v @ k_yy) * v).sum(1) - v @ np.diagonal(k_yy)
        mmds = (xx + yy) / (m * (m - 1)) - 2.0 * ((w @ k_xy) * v).sum(1) / (m * m)
    else:  # kernels per subset, as torch-fidelity computes them (memory)
        mmds = np.empty(subsets)
        for s, (i, j) in enumerate(draws):
            kxx, kyy, kxy = kernel(x[i], x[i]), kernel(y[j], y[j]), kernel(x[i], y[j])
            within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
            mmds[s] = within / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m)
    return float(mmds.mean()), float(mmds.std())


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of every row to its k-th nearest other row."""
    d = torch.cdist(torch.from_numpy(x), torch.from_numpy(x))
    return d.kthvalue(k + 1, dim=1).values.numpy()  # k + 1: the row itself is at distance 0


def compute_prdc(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Precision/recall with k = 3, density/coverage with k = 5 (nan when a set is too small).

    The definitions of Naeem et al.'s reference code (the ``prdc`` package), which the tests pin
    these values against, with exact distances from ``torch.cdist``.
    """
    out = dict.fromkeys(("precision", "recall", "density", "coverage"), float("nan"))
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    if min(len(real), len(fake)) < PR_K + 2:
        return out
    d = torch.cdist(torch.from_numpy(real), torch.from_numpy(fake)).numpy()  # N x M
    r_real, r_fake = _radii(real, PR_K), _radii(fake, PR_K)
    out["precision"] = float((d < r_real[:, None]).any(axis=0).mean())
    out["recall"] = float((d < r_fake[None, :]).any(axis=1).mean())
    if min(len(real), len(fake)) >= DC_K + 2:
        r_real = _radii(real, DC_K)
        out["density"] = float((d < r_real[:, None]).sum(axis=0).mean() / DC_K)
        out["coverage"] = float((d.min(axis=1) < r_real).mean())
    return out


def compute_feature_metrics(
    real: np.ndarray, fake: np.ndarray, seed: int = 0, kid_subsets: int = KID_SUBSETS
) -> dict[str, float]:
    """FID, KID (mean, std), precision, recall, density and coverage."""
    kid_mean, kid_std = compute_kid(real, fake, seed, kid_subsets)
    return {
        "fid": compute_fid(real, fake),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        **compute_prdc(real, fake),
    }


class _Reference:
    """A reference set's FID statistics, computed once for many subsets of one compared set.

    For a compared set X (n x D) and the reference's centred, scaled features A (m x D), the
    trace term of FID needs the eigenvalues of (X_c A^T)(X_c A^T)^T / (n - 1), X_c the centred
    rows. With K = (X A^T)(X A^T)^T computed once, any subset or resample ``idx`` of X gets that
    matrix by double-centring ``K[idx][:, idx]``: O(n²) and one eigendecomposition per draw.
    """

    def __init__(self, real: np.ndarray, fake: np.ndarray) -> None:
        real, self.fake = real.astype(np.float64), fake.astype(np.float64)
        self.mu = real.mean(0)
        a = (real - self.mu) / np.sqrt(len(real) - 1)  # m x D
        self.trace = float((a * a).sum())
        proj = self.fake @ a.T  # n x m
        self.gram = proj @ proj.T  # n x n
        self.sq = (self.fake * self.fake).sum(1)

    def fid(self, idx: np.ndarray) -> float:
        """FID of the rows ``idx`` of the compared set (repeats allowed) against the reference."""
        n = len(idx)
        if n < 2:
            return float("nan")
        x = self.fake[idx]
        mu_f = x.mean(0)
        k = self.gram[np.ix_(idx, idx)]
        row = k.mean(0)
        k = (k - row[None, :] - row[:, None] + row.mean()) / (n - 1)
        tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(k), 0, None)).sum())
        trace_f = float(self.sq[idx].sum() - n * (mu_f @ mu_f)) / (n - 1)
        diff = self.mu - mu_f
        return max(0.0, float(diff @ diff) + self.trace + trace_f - 2.0 * tr_sqrt)


def bootstrap_fid(
    real: np.ndarray, fake: np.ndarray, n_boot: int, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Normal-approximation bootstrap interval of FID: the point estimate ± z x the standard
    deviation of FID over ``n_boot`` resamples (with replacement) of the compared set. The
    reference set is fixed (every row of a comparison shares it). Not the percentile interval:
    a resample repeats images, which biases FID upwards (by more than its spread when n is below
    the feature dimension), so its quantiles need not contain the estimate; the spread is what
    the resamples measure well. ``(nan, nan)`` without resamples or with fewer than 2 images."""
    if n_boot <= 1 or len(real) < 2 or len(fake) < 2:
        return float("nan"), float("nan")
    from scipy.stats import norm

    ref = _Reference(real, fake)
    rng = np.random.default_rng([seed, 0xB007])
    values = [ref.fid(rng.integers(0, len(fake), len(fake))) for _ in range(n_boot)]
    point = ref.fid(np.arange(len(fake)))
    half = float(norm.ppf(0.5 + level / 2)) * float(np.std(values, ddof=1))
    return max(0.0, point - half), point + half


def fid_infinity(
    real: np.ndarray, fake: np.ndarray, seed: int = 0, points: int = 8, min_fraction: float = 0.25
) -> float:
    """FID∞ of Chong & Forsyth (CVPR 2020, "Effectively Unbiased FID and Inception Score and
    where to find them"): FID is, to first order, linear in 1/N for N compared images; compute
    it on random subsets of ``points`` sizes from ``min_fraction`` x N to N, fit a line in 1/N
    and read it at 1/N = 0. The reference set is fixed (all of it). nan with fewer than 8."""
    n = len(fake)
    if n < 8 or len(real) < 2:
        return float("nan")
    ref = _Reference(real, fake)
    rng = np.random.default_rng([seed, 0xF1D])
    sizes = np.unique(np.linspace(max(4, int(min_fraction * n)), n, points).astype(int))
    fids = [ref.fid(rng.choice(n, size, replace=False)) for size in sizes]
    _, intercept = np.polyfit(1.0 / sizes, np.array(fids), 1)
    return float(intercept)
