"""Distribution metrics between two feature matrices (real ``N x D``, synthetic ``M x D``).

* FID, Fréchet distance between Gaussians fitted to the features (Heusel et al. 2017),
  computed exactly through an SVD (see [`compute_fid`][]; pinned against torch-fidelity).
  Lower is better; 0 for identical statistics.
* KID, the unbiased MMD² with the cubic polynomial kernel (Bińkowski et al. 2018), mean and
  standard deviation over random subsets, torch-fidelity's implementation. Lower is better.
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
    """KID mean and std over ``subsets`` random subsets of min(1000, N, M) samples."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(KID_SUBSET_SIZE, len(real), len(fake))
    if size < 2:
        return float("nan"), float("nan")
    out = kid_features_to_metric(
        torch.from_numpy(real.astype(np.float64)),
        torch.from_numpy(fake.astype(np.float64)),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


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
