"""Aggregating an experiment's classifier runs: intervals over seeds, CAS.

- Over seeds: mean and a 95 % Student-t interval of each metric across the seeds' test scores
  (the training randomness: initialization, validation split, sampling, augmentation), clipped
  to [0, 1], the range of every metric summarized.
- Paired differences between strategies (the verdict's interval, with generators, seeds and
  test images as levels) live in :mod:`lesiongan.experiments.stats`.
- The classification accuracy score (CAS, Ravuri & Vinyals 2019): synthetic-only over
  real-only balanced accuracy, per seed, with a Student-t interval.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

Preds = tuple[list[str], np.ndarray, np.ndarray]  # image ids, labels [N], probabilities [N, C]
SUMMARY_KEYS = ("balanced_accuracy", "accuracy", "macro_auc", "melanoma_auc", "keratosis_auc")


def summary_keys(classes: list[str]) -> list[str]:
    keys = list(SUMMARY_KEYS)
    keys += [f"sensitivity_{c}" for c in classes] + [f"specificity_{c}" for c in classes]
    return keys + [f"auc_{c}" for c in classes]


def seed_interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and Student-t interval over seeds (no interval from a single seed)."""
    v = [float(x) for x in values if x is not None]
    mean, lo, hi = t_interval(v, level)
    # every summarized metric lives in [0, 1]; a t-interval over 3 seeds can overshoot it
    return {
        "n": len(v),
        "values": v,
        "mean": mean,
        "ci_low": None if lo is None else max(0.0, lo),
        "ci_high": None if hi is None else min(1.0, hi),
    }


def summarize(
    metrics: dict[str, dict[int, dict[str, Any]]], classes: list[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{strategy: {seed: metrics.json}}`` -> ``{strategy: {key: seed_interval}}``."""
    keys = summary_keys(classes)
    return {
        strategy: {k: seed_interval([m.get(k) for m in by_seed.values()]) for k in keys}
        for strategy, by_seed in metrics.items()
    }


def read_test_predictions(run_dir: Path, classes: list[str]) -> Preds:
    """Test rows of a run's ``predictions.csv``: image ids, true labels, probabilities."""
    with open(Path(run_dir) / "predictions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    ids = [r["image_id"] for r in rows]
    y = np.array([classes.index(r["label"]) for r in rows], dtype=np.int64)
    probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    return ids, y, probs


def t_interval(values: Any, level: float = 0.95) -> tuple[float | None, ...]:
    """``(mean, low, high)``: the Student-t interval of the mean, unclipped; None where undefined.

    One value has a mean but no interval; no value has neither.
    """
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None, None, None
    mean = float(v.mean())
    if v.size < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def classification_accuracy_score(
    synthetic_only_metric: dict[int, float | None],
    real_only_metric: dict[int, float | None],
    level: float = 0.95,
) -> dict[str, Any]:
    """Classification accuracy score (Ravuri & Vinyals, "Classification Accuracy Score for
    Conditional Generative Models", NeurIPS 2019): a classifier trained on synthetic images only,
    tested on real test images, relative to the same classifier trained on the real images.

    ``synthetic_only_metric``/``real_only_metric``: ``{seed: metric}`` of the two runs (here the
    test balanced accuracy of ``synthetic-only`` and of ``none``; None = missing). Seeds present
    in both are paired: ``cas`` is the mean of the per-seed ratios ``synthetic / real`` with a
    Student-t interval over them (``ci_low``/``ci_high``; None from fewer than two pairs).
    ``cas_of_means`` (mean synthetic over mean real, every seed each has) is defined without
    pairs too; ``cas`` falls back to it, without an interval, when no seed is shared.
    1 = synthetic images teach as much as real ones.
    """
    syn = {s: float(v) for s, v in synthetic_only_metric.items() if v is not None}
    real = {s: float(v) for s, v in real_only_metric.items() if v is not None}
    if not syn or not real:
        raise ValueError("CAS needs at least one synthetic-only and one real-only value")
    if any(v <= 0 for v in real.values()):
        raise ValueError("CAS is undefined for a real-only metric <= 0")
    seeds = sorted(set(syn) & set(real))
    ratios = [syn[s] / real[s] for s in seeds]
    of_means = float(np.mean(list(syn.values())) / np.mean(list(real.values())))
    mean, lo, hi = t_interval(ratios, level) if ratios else (of_means, None, None)
    return {
        "cas": mean,
        "ci_low": None if lo is None else max(0.0, lo),  # a ratio of accuracies is >= 0
        "ci_high": hi,
        "cas_of_means": of_means,
        "n_pairs": len(seeds),
        "seeds": seeds,
        "values": ratios,
    }
