"""Test-set classifier metrics for ``metrics.json``, with percentile-bootstrap intervals.

Keys follow the ``metrics.json`` contract in DESIGN.md: ``accuracy``, ``balanced_accuracy``,
``macro_auc``, ``sensitivity_<class>``, ``specificity_<class>``, ``auc_<class>`` and, where
the class names contain them, the ISIC 2017 task 3 scores (Codella et al. 2018, "Skin lesion
analysis toward melanoma detection"): ``melanoma_auc`` (3a) and ``keratosis_auc`` (3b).

Predictions are ``argmax(probs, axis=1)`` (ties go to the lower class index); sensitivity and
specificity are one-vs-rest on those predictions, AUCs are one-vs-rest on ``probs[:, c]``.

Undefined values are ``None``, never NaN, so the dict serializes to strict JSON:

- ``sensitivity_<c>`` when class ``c`` is absent from ``y_true``;
- ``specificity_<c>`` when every image is of class ``c`` (no negatives);
- ``auc_<c>`` when class ``c`` is absent or is the only class present;
- ``macro_auc`` when no per-class AUC is defined.

Macro averages (``balanced_accuracy``, ``macro_auc``) skip undefined per-class values, so
``balanced_accuracy`` is the mean sensitivity over the classes present in ``y_true``, as in
scikit-learn's ``balanced_accuracy_score``.

Confidence intervals are the percentile bootstrap (Efron & Tibshirani 1993, "An Introduction
to the Bootstrap", ch. 13): test images are resampled with replacement and each metric's
interval is taken over the resamples in which it is defined. Resamples are evaluated in
vectorized form (multiplicity weights, a weighted Mann-Whitney AUC) rather than one
scikit-learn call per resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score

__all__ = ["bootstrap_metrics", "compute_confusion", "compute_metrics", "metrics_with_ci"]

PROB_SUM_TOL = 1e-3
# metrics.json alias -> class whose auc_<class> it repeats (ISIC 2017 task 3a / 3b).
AUC_ALIASES = {"melanoma_auc": "melanoma", "keratosis_auc": "seborrheic_keratosis"}
# Resamples x images evaluated at once: bounds the weight matrix to ~16 MB of float64.
_CHUNK_ELEMENTS = 2_000_000


def _check_labels(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty: metrics need at least one test image")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"{name} holds labels outside [0, {n_classes - 1}]: min {y.min()}, max {y.max()}"
        )
    return y.astype(np.int64, copy=False)


def _check_inputs(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = list(classes)
    if len(names) < 2:
        raise ValueError(f"need at least 2 classes, got {names}")
    if not all(isinstance(c, str) and c for c in names):
        raise ValueError(f"class names must be non-empty strings, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(names):
        raise ValueError(
            f"probs must have shape [N, {len(names)}] (one column per class), got {p.shape}"
        )
    y = _check_labels(y_true, len(names), "y_true")
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and probs disagree on the number of images: {y.shape[0]} vs {p.shape[0]}"
        )
    if not np.isfinite(p).all():
        raise ValueError("probs must be finite (no NaN or inf)")
    if p.min() < 0:
        raise ValueError(f"probs must be non-negative, got minimum {p.min():.6g}")
    err = np.abs(p.sum(axis=1) - 1.0)
    if err.max() > PROB_SUM_TOL:
        row = int(err.argmax())
        raise ValueError(
            f"probs rows must sum to 1 within {PROB_SUM_TOL} (pass softmax outputs, not "
            f"logits): row {row} sums to {p[row].sum():.6g}"
        )
    return y, p, names


def compute_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion counts ``[n_classes, n_classes]`` int64, indexed ``[true, pred]``."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    t = _check_labels(y_true, n_classes, "y_true")
    p = _check_labels(y_pred, n_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    return confusion_matrix(t, p, labels=np.arange(n_classes)).astype(np.int64)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Row means over the non-NaN entries; NaN for a row with none (without a warning)."""
    valid = ~np.isnan(a)
    count = valid.sum(axis=1)
    total = np.where(valid, a, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _metric_arrays(conf: np.ndarray, auc: np.ndarray, classes: list[str]) -> dict[str, np.ndarray]:
    """All metrics, one value per row, from confusions ``[B, C, C]`` and AUCs ``[B, C]``.

    NaN marks an undefined value. The point estimate is the case B = 1.
    """
    n = conf.sum(axis=(1, 2))
    tp = np.diagonal(conf, axis1=1, axis2=2)
    n_pos = conf.sum(axis=2)  # images of each true class
    n_neg = n[:, None] - n_pos
    fp = conf.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(n_pos > 0, tp / n_pos, np.nan)
        spec = np.where(n_neg > 0, (n_neg - fp) / n_neg, np.nan)
    out = {
        "accuracy": tp.sum(axis=1) / n,
        "balanced_accuracy": _nanmean_rows(sens),
        "macro_auc": _nanmean_rows(auc),
    }
    for alias, name in AUC_ALIASES.items():
        if name in classes:
            out[alias] = auc[:, classes.index(name)]
    for c, name in enumerate(classes):
        out[f"sensitivity_{name}"] = sens[:, c]
        out[f"specificity_{name}"] = spec[:, c]
        out[f"auc_{name}"] = auc[:, c]
    return out


def _weighted_auc(scores: np.ndarray, is_pos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC per row of ``weights`` [B, N] (image multiplicities).

    Mann-Whitney form with ties counted one half, which equals the trapezoidal ROC area that
    ``roc_auc_score`` computes. NaN where a row has no positives or no negatives.
    """
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first index of each tie group
    w = weights[:, order]
    pos = is_pos[order]
    pos_g = np.add.reduceat(np.where(pos, w, 0.0), starts, axis=1)
    neg_g = np.add.reduceat(np.where(pos, 0.0, w), starts, axis=1)
    neg_below = np.cumsum(neg_g, axis=1) - neg_g
    wins = (pos_g * (neg_below + 0.5 * neg_g)).sum(axis=1)
    pairs = pos_g.sum(axis=1) * neg_g.sum(axis=1)
    return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)


def _weighted_metric_arrays(
    y: np.ndarray, p: np.ndarray, classes: list[str], weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics of the data set repeated ``weights[b, i]`` times per image, for each row b."""
    n_classes = len(classes)
    pair = y * n_classes + p.argmax(axis=1)
    onehot = np.zeros((y.shape[0], n_classes * n_classes))
    onehot[np.arange(y.shape[0]), pair] = 1.0
    conf = (weights @ onehot).reshape(-1, n_classes, n_classes)
    auc = np.stack([_weighted_auc(p[:, c], y == c, weights) for c in range(n_classes)], axis=1)
    return _metric_arrays(conf, auc, classes)


def _to_json_number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def compute_metrics(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> dict[str, float | None]:
    """Point metrics of softmax outputs ``probs`` [N, C] against labels ``y_true`` [N].

    ``classes[c]`` names column c. Returns flat ``metrics.json`` keys (see the module
    docstring); undefined values are ``None``.
    """
    y, p, names = _check_inputs(y_true, probs, classes)
    conf = compute_confusion(y, p.argmax(axis=1), len(names)).astype(np.float64)
    auc = np.full(len(names), np.nan)
    for c in range(len(names)):
        is_pos = y == c
        if 0 < is_pos.sum() < y.shape[0]:
            auc[c] = roc_auc_score(is_pos, p[:, c])
    values = _metric_arrays(conf[None], auc[None], names)
    return {key: _to_json_number(v[0]) for key, v in values.items()}


def compute_accuracies(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> dict[str, float | None]:
    """``balanced_accuracy`` and ``accuracy`` as :func:`compute_metrics` gives them, without
    the AUCs: what the trainer's epoch selection reads (sklearn's checks around each AUC cost
    more than a cached-feature epoch)."""
    y, p, names = _check_inputs(y_true, probs, classes)
    k = len(names)
    conf = np.bincount(y * k + p.argmax(axis=1), minlength=k * k).reshape(k, k)
    values = _metric_arrays(conf.astype(np.float64)[None], np.full((1, k), np.nan), names)
    return {key: _to_json_number(values[key][0]) for key in ("balanced_accuracy", "accuracy")}


def bootstrap_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | None]:
    """Percentile-bootstrap intervals ``<key>_ci_low`` / ``<key>_ci_high`` for every metric.

    Each of ``n_boot`` resamples draws N test images with replacement from
    ``np.random.default_rng(seed)``. A resample in which a metric is undefined is skipped for
    that metric; a metric undefined in every resample gets ``None`` bounds.
    """
    y, p, names = _check_inputs(y_true, probs, classes)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = y.shape[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(int(n_boot), _CHUNK_ELEMENTS // n))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, int(n_boot), chunk):
        b = min(chunk, int(n_boot) - start)
        idx = rng.integers(0, n, size=(b, n))
        # Multiplicity of each image in each resample: a resample is a weighting of the data.
        flat = (np.arange(b)[:, None] * n + idx).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        parts.append(_weighted_metric_arrays(y, p, names, weights))
    q = [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0]
    out: dict[str, float | None] = {}
    for key in parts[0]:
        values = np.concatenate([part[key] for part in parts])
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, q) if values.size else (np.nan, np.nan)
        out[f"{key}_ci_low"] = _to_json_number(low)
        out[f"{key}_ci_high"] = _to_json_number(high)
    return out


def metrics_with_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Everything the classifier's ``metrics.json`` holds about the test set.

    Each point metric is followed by its ``_ci_low`` / ``_ci_high``; then
    ``confusion_matrix`` (nested lists ``[true][pred]`` in ``classes`` order), ``n_test``,
    ``bootstrap_resamples``, ``bootstrap_seed`` and ``ci_level``. JSON-serializable with
    ``allow_nan=False``.
    """
    point = compute_metrics(y_true, probs, classes)
    ci = bootstrap_metrics(y_true, probs, classes, n_boot=n_boot, seed=seed, level=level)
    out: dict[str, Any] = {}
    for key, value in point.items():
        out[key] = value
        out[f"{key}_ci_low"] = ci[f"{key}_ci_low"]
        out[f"{key}_ci_high"] = ci[f"{key}_ci_high"]
    y = np.asarray(y_true)
    pred = np.asarray(probs, dtype=np.float64).argmax(axis=1)
    out["confusion_matrix"] = compute_confusion(y, pred, len(classes)).tolist()
    out["n_test"] = int(y.shape[0])
    out["bootstrap_resamples"] = int(n_boot)
    out["bootstrap_seed"] = int(seed)
    out["ci_level"] = float(level)
    return out
