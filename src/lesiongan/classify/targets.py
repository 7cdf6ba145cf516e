"""Per-item loss weights and targets: inverse-frequency class weights, soft labels from the
discriminator's score (calibrated on real images), and CASED's curriculum probability."""

from __future__ import annotations

from typing import Any

import numpy as np


def class_weights(labels: Any, n_classes: int) -> np.ndarray:
    """Inverse-frequency weight per class, ``n / (k * n_c)`` for the k classes present.

    The mean weight over the samples is 1; absent classes get 0.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    if counts.size != n_classes or counts.sum() == 0:
        raise ValueError(f"labels must be non-empty and in [0, {n_classes})")
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def score_confidence(d_score: Any, real_scores: Any) -> np.ndarray:
    """Calibrated confidence in [0, 1]: the mid-rank empirical CDF of ``real_scores``.

    ``(#{r < s} + #{r == s} / 2) / n``: 0 below every real score, 1 above every real score,
    exactly 0.5 at the median of the real scores; non-decreasing in ``d_score``.
    """
    ref = np.sort(np.asarray(real_scores, dtype=np.float64).ravel())
    s = np.asarray(d_score, dtype=np.float64)
    if ref.size == 0 or not np.all(np.isfinite(ref)) or not np.all(np.isfinite(s)):
        raise ValueError("need at least one real score, and all scores finite")
    below = np.searchsorted(ref, s, side="left")
    not_above = np.searchsorted(ref, s, side="right")
    return (below + not_above) / (2.0 * ref.size)


def soft_targets(labels: Any, d_score: Any, n_classes: int, real_scores: Any) -> np.ndarray:
    """Soft targets [N, C]: ``conf * onehot(label) + (1 - conf) / C``, rows summing to 1.

    ``conf = score_confidence(d_score, real_scores)``, calibrated on the real training images'
    scores: a synthetic image D scores like the median real image gets conf 0.5; one below all
    real images gets the uniform target. The intended class's probability,
    ``1 / C + conf * (1 - 1 / C)``, is non-decreasing in ``d_score``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    conf = score_confidence(d_score, real_scores)
    if labels.ndim != 1 or conf.shape != labels.shape:
        raise ValueError("labels and d_score must be 1-D and of the same length")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    out = np.repeat(((1.0 - conf) / n_classes)[:, None], n_classes, axis=1)
    out[np.arange(labels.size), labels] += conf
    return out


def compute_cased_p(epoch: int, n_epochs: int, p_end: float) -> float:
    """Probability of a curriculum batch: ``p_end ** min(1, epoch / (n_epochs - 1))``.

    Geometric from 1 at epoch 0 to ``p_end`` at epoch ``n_epochs - 1``, constant after; the same
    as ``max(p_end, decay ** epoch)`` with ``decay = p_end ** (1 / (n_epochs - 1))``.
    """
    return float(p_end ** min(1.0, epoch / (n_epochs - 1)))
