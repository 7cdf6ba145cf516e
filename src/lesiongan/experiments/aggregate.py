"""Aggregating an experiment's classifier runs: intervals over seeds, paired differences.

- Over seeds: mean and a 95 % Student-t interval of each metric across the seeds' test scores
  (the training randomness: initialization, validation split, sampling, augmentation), clipped
  to [0, 1], the range of every metric summarized.
- Paired comparison of a strategy with the baseline ``none``: the same seeds and the same test
  images, so the difference is measured on matched pairs. A paired bootstrap resamples the test
  images (one resample shared by both strategies and all seeds), averages the per-seed
  differences in each resample, and reports the mean difference with its 95 % percentile
  interval and the share of resamples in which the strategy did not beat the baseline
  (``p_not_better``, a one-sided bootstrap p-value). Metrics: balanced accuracy and each class's
  sensitivity (melanoma sensitivity is the clinically critical one). This interval covers the
  sampling of test images for the seeds run; the spread over seeds is in the per-strategy
  intervals.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

SUMMARY_KEYS = ("balanced_accuracy", "accuracy", "macro_auc", "melanoma_auc", "keratosis_auc")


def summary_keys(classes: list[str]) -> list[str]:
    keys = list(SUMMARY_KEYS)
    keys += [f"sensitivity_{c}" for c in classes] + [f"specificity_{c}" for c in classes]
    return keys + [f"auc_{c}" for c in classes]


def seed_interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and Student-t interval over seeds (no interval from a single seed)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    out: dict[str, Any] = {"n": int(v.size), "values": [float(x) for x in v]}
    if v.size == 0:
        return {**out, "mean": None, "ci_low": None, "ci_high": None}
    mean = float(v.mean())
    if v.size < 2:
        return {**out, "mean": mean, "ci_low": None, "ci_high": None}
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    # every summarized metric lives in [0, 1]; a t-interval over 3 seeds can overshoot it
    return {**out, "mean": mean, "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half)}


def summarize(
    metrics: dict[str, dict[int, dict[str, Any]]], classes: list[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{strategy: {seed: metrics.json}}`` -> ``{strategy: {key: seed_interval}}``."""
    keys = summary_keys(classes)
    return {
        strategy: {k: seed_interval([m.get(k) for m in by_seed.values()]) for k in keys}
        for strategy, by_seed in metrics.items()
    }


def read_test_predictions(
    run_dir: Path, classes: list[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Test rows of a run's ``predictions.csv``: image ids, true labels, probabilities."""
    with open(Path(run_dir) / "predictions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    ids = [r["image_id"] for r in rows]
    y = np.array([classes.index(r["label"]) for r in rows], dtype=np.int64)
    probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    return ids, y, probs


def _sensitivities(y: np.ndarray, pred: np.ndarray, w: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class sensitivity [B, C] under resample weights ``w`` [B, N]; NaN for absent classes."""
    out = np.full((w.shape[0], n_classes), np.nan)
    for c in range(n_classes):
        pos = y == c
        total = w[:, pos].sum(axis=1)
        hit = w[:, pos & (pred == c)].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = np.where(total > 0, hit / total, np.nan)
    return out


def _metric_rows(y, pred, w, classes) -> dict[str, np.ndarray]:
    sens = _sensitivities(y, pred, w, len(classes))
    with np.errstate(invalid="ignore"):
        ba = np.nanmean(np.where(np.isnan(sens), np.nan, sens), axis=1)
    out = {"balanced_accuracy": ba}
    out.update({f"sensitivity_{c}": sens[:, i] for i, c in enumerate(classes)})
    return out


def paired_differences(
    baseline: dict[int, tuple[list[str], np.ndarray, np.ndarray]],
    other: dict[int, tuple[list[str], np.ndarray, np.ndarray]],
    classes: list[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Paired bootstrap of ``other - baseline`` over the seeds both have (see module doc)."""
    seeds = sorted(set(baseline) & set(other))
    if not seeds:
        return {}
    ids = baseline[seeds[0]][0]
    y = baseline[seeds[0]][1]
    for s in seeds:
        for ids_s, y_s, _ in (baseline[s], other[s]):
            if ids_s != ids or not np.array_equal(y_s, y):
                raise ValueError("runs were tested on different images; cannot pair them")
    n = y.size
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    ones = np.ones((1, n))
    point: dict[str, list[float]] = {}
    boot: dict[str, list[np.ndarray]] = {}
    for s in seeds:
        a = _metric_rows(y, baseline[s][2].argmax(1), np.vstack([ones, w]), classes)
        b = _metric_rows(y, other[s][2].argmax(1), np.vstack([ones, w]), classes)
        for k in a:
            point.setdefault(k, []).append(float(b[k][0] - a[k][0]))
            boot.setdefault(k, []).append(b[k][1:] - a[k][1:])
    out: dict[str, dict[str, Any]] = {}
    for k in point:
        with warnings.catch_warnings():  # a class absent from a resample: NaN, skipped below
            warnings.simplefilter("ignore", RuntimeWarning)
            diffs = np.nanmean(np.vstack(boot[k]), axis=0)
        diffs = diffs[~np.isnan(diffs)]
        mean = float(np.nanmean(point[k])) if not np.all(np.isnan(point[k])) else None
        if diffs.size == 0 or mean is None:
            out[k] = {"diff": mean, "ci_low": None, "ci_high": None, "p_not_better": None}
            continue
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        out[k] = {
            "diff": mean,
            "ci_low": float(lo),
            "ci_high": float(hi),
            "p_not_better": float((diffs <= 0).mean()),
            "seeds": seeds,
        }
    return out
