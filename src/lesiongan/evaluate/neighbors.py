"""Exact nearest-neighbour search in Euclidean space, and SSIM nearest neighbours.

Distances come from chunked matrix products (``|q|^2 - 2 q.r + |r|^2``) on the GPU when one is
given, else the CPU; the selected neighbours' distances are then recomputed directly, so they are
exact even where the expansion loses precision (near-duplicates). For very large sets faiss's
exact ``IndexFlatL2`` is used when the package is installed. ``benchmarks/bench_nn.py`` measures
the scale this handles.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger(__name__)
FAISS_MIN_PAIRS = 5e8  # query x reference pairs above which faiss is used (when installed)


def _faiss():
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    return faiss


def nearest_neighbors(
    query: np.ndarray,
    ref: np.ndarray,
    k: int = 1,
    device: torch.device | None = None,
    chunk: int = 1024,
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``ref`` for every row of ``query``: (distances, indices), N x k.

    ``exclude_self``: ``query`` is ``ref`` and a row is not its own neighbour.
    """
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(len(query), -1)
    ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(len(ref), -1)
    k = min(k, len(ref) - (1 if exclude_self else 0))
    if k < 1 or len(query) == 0:
        return np.zeros((len(query), 0), np.float32), np.zeros((len(query), 0), np.int64)
    faiss = _faiss()
    if faiss is not None and len(query) * len(ref) >= FAISS_MIN_PAIRS:
        index = faiss.IndexFlatL2(ref.shape[1])
        index.add(ref)
        _, idx = index.search(query, k + (1 if exclude_self else 0))
        if exclude_self:
            idx = np.array([[j for j in row if j != i][:k] for i, row in enumerate(idx)])
    else:
        idx = _search_torch(query, ref, k, device or torch.device("cpu"), chunk, exclude_self)
    dist = np.stack([np.linalg.norm(ref[idx[:, j]] - query, axis=1) for j in range(k)], 1)
    order = np.argsort(dist, axis=1, kind="stable")  # re-sort by the exact distances
    return (
        np.take_along_axis(dist, order, 1).astype(np.float32),
        np.take_along_axis(idx, order, 1).astype(np.int64),
    )


def _search_torch(
    query: np.ndarray,
    ref: np.ndarray,
    k: int,
    device: torch.device,
    chunk: int,
    exclude_self: bool,
) -> np.ndarray:
    r = torch.from_numpy(ref).to(device)
    r_sq = (r * r).sum(1)
    out = np.empty((len(query), k), np.int64)
    for s in range(0, len(query), chunk):
        q = torch.from_numpy(query[s : s + chunk]).to(device)
        d2 = (q * q).sum(1, keepdim=True) - 2.0 * (q @ r.T) + r_sq[None]
        if exclude_self:
            rows = torch.arange(len(q), device=device)
            d2[rows, rows + s] = float("inf")
        # a few extra candidates absorb rounding in the expansion; exact distances decide
        kk = min(len(ref), k + 4)
        out[s : s + len(q)] = d2.topk(kk, dim=1, largest=False).indices[:, :k].cpu().numpy()
    return out


def ssim_neighbors(
    query: np.ndarray,
    ref: np.ndarray,
    candidates: np.ndarray,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query image the candidate (row of ``candidates``, indices into ``ref``) with the
    highest SSIM: (ssim, index). Images are uint8 NHWC; SSIM with an 11x11 Gaussian window."""
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    n, c = candidates.shape
    qi = np.repeat(np.arange(n), c)
    ri = candidates.reshape(-1)
    values = np.empty(len(qi), np.float64)
    for s in range(0, len(qi), batch_size):
        x = torch.from_numpy(query[qi[s : s + batch_size]]).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(ref[ri[s : s + batch_size]]).permute(0, 3, 1, 2).float() / 255
        values[s : s + len(x)] = ssim(x, y, data_range=1.0, reduction="none").reshape(-1).numpy()
    values = values.reshape(n, c)
    best = values.argmax(1)
    return values[np.arange(n), best], candidates[np.arange(n), best]
