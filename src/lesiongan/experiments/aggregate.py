"""Aggregating an experiment's classifier runs: intervals over seeds, paired differences.

- Over seeds: mean and a 95 % Student-t interval of each metric across the seeds' test scores
  (the training randomness: initialization, validation split, sampling, augmentation), clipped
  to [0, 1], the range of every metric summarized.
- Paired comparison of a strategy with a reference strategy (the baseline ``none`` in the
  experiments, but any strategy can be the reference): the same seeds and the same test images,
  so the difference is measured on matched pairs. Two sources of chance make a difference look
  real: the seeds run (training randomness) and the test images drawn. The verdict's interval
  covers both, with a two-level paired bootstrap for crossed designs (every seed is tested on
  every image; Owen, "The pigeonhole bootstrap", Ann. Appl. Stat. 2007): each resample draws
  the seeds with replacement (the same seed for both strategies) and, independently, the test
  images with replacement (shared by all seeds, as the images are), and averages the drawn
  seeds' differences. Reported: the mean difference over seeds, its 95 % percentile interval and
  the share of resamples in which the strategy did not beat the reference (``p_not_better``, a
  one-sided bootstrap p-value). Beside it, for reading: the interval over test images only
  (``img_*``, which treats the seeds run as the only ones possible, so one lucky seed can make a
  difference look certain) and the Student-t interval over the per-seed differences (``t_*``,
  seeds only). Metrics: balanced accuracy and each class's sensitivity (melanoma sensitivity is
  the clinically critical one).
- The classification accuracy score (CAS, Ravuri & Vinyals 2019): synthetic-only over
  real-only balanced accuracy, per seed, with a Student-t interval.
"""

from __future__ import annotations

import csv
import math
import warnings
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


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """[n_boot, n] float: how often each of n items is drawn in each resample of size n."""
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _metric_rows(
    y: np.ndarray, pred: np.ndarray, w: np.ndarray, classes: list[str]
) -> dict[str, np.ndarray]:
    """Balanced accuracy and per-class sensitivity [B] under image weights ``w`` [B, N].

    A class absent under a row's weights has sensitivity NaN and is left out of that row's
    balanced accuracy (NaN when no class is present).
    """
    onehot = np.eye(len(classes))[y]  # [N, C]
    total = w @ onehot
    hit = w @ (onehot * (pred == y)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of nanmean
        sens = np.where(total > 0, hit / total, np.nan)
        ba = np.nanmean(sens, axis=1)
    out = {"balanced_accuracy": ba}
    out.update({f"sensitivity_{c}": sens[:, i] for i, c in enumerate(classes)})
    return out


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float, float] | None:
    """``(low, high, share <= 0)`` of the finite resampled differences; None if there are none."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return None
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi), float((v <= 0).mean())


def paired_differences(
    reference: dict[int, Preds],
    other: dict[int, Preds],
    classes: list[str],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """``other - reference`` per metric, paired on the seeds both have (see module doc).

    ``reference`` and ``other``: ``{seed: (image_ids, labels, probs)}`` of the test split, as
    :func:`read_test_predictions` returns; any strategy can be the reference. Per metric
    (``balanced_accuracy``, ``sensitivity_<class>``):

    - ``diff``: the mean over seeds of the per-seed difference.
    - ``ci_low``/``ci_high``/``p_not_better``: the two-level paired bootstrap (seeds and test
      images resampled), the verdict's interval and one-sided p-value.
    - ``img_ci_low``/``img_ci_high``/``img_p_not_better``: test images resampled only.
    - ``t_ci_low``/``t_ci_high``: Student-t interval over the per-seed differences.
    - ``n_seeds``, ``seeds``.

    Raises ValueError when the runs were not tested on the same images with the same labels.
    """
    seeds = sorted(set(reference) & set(other))
    if not seeds:
        return {}
    ids, y = reference[seeds[0]][0], reference[seeds[0]][1]
    for s in seeds:
        for ids_s, y_s, _ in (reference[s], other[s]):
            if list(ids_s) != list(ids) or not np.array_equal(y_s, y):
                raise ValueError("runs were tested on different images; cannot pair them")
    rng = np.random.default_rng(seed)
    # draw order is part of the contract of `seed`: image counts first, then seed draws
    w = np.vstack([np.ones((1, y.size)), _resample_counts(rng, y.size, n_boot)])
    seed_draws = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
    per_seed: dict[str, list[np.ndarray]] = {}  # key -> [S] arrays of [1 + B]
    for s in seeds:
        a = _metric_rows(y, reference[s][2].argmax(1), w, classes)
        b = _metric_rows(y, other[s][2].argmax(1), w, classes)
        for k in a:
            per_seed.setdefault(k, []).append(b[k] - a[k])
    out: dict[str, dict[str, Any]] = {}
    for k, rows in per_seed.items():
        d = np.vstack(rows)  # [S, 1 + B]
        point, boot = d[:, 0], d[:, 1:]
        # a class absent from an image resample is absent for every seed: whole columns of NaN
        img = _percentiles(boot.mean(axis=0), level)
        two = _percentiles(np.take_along_axis(boot.T, seed_draws, axis=1).mean(axis=1), level)
        mean, t_lo, t_hi = t_interval(point[~np.isnan(point)].tolist(), level)
        entry: dict[str, Any] = {"diff": mean, "n_seeds": len(seeds), "seeds": seeds}
        entry.update(dict(zip(("ci_low", "ci_high", "p_not_better"), two or (None,) * 3)))
        entry.update(
            dict(zip(("img_ci_low", "img_ci_high", "img_p_not_better"), img or (None,) * 3))
        )
        entry.update({"t_ci_low": t_lo, "t_ci_high": t_hi})
        if mean is None:  # the class is absent from the test split
            entry.update({key: None for key in entry if key not in ("n_seeds", "seeds")})
        out[k] = entry
    return out


def compare_strategies(
    preds: dict[str, dict[int, Preds]],
    reference: str,
    classes: list[str],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`paired_differences` of every strategy in ``preds`` against ``reference``.

    ``preds``: ``{strategy: {seed: (image_ids, labels, probs)}}``. Returns ``{strategy: {metric:
    difference}}`` for every strategy but the reference. Every comparison uses the same
    ``seed``, hence the same resamples of seeds and images.
    """
    if reference not in preds:
        raise ValueError(f"reference strategy {reference!r} has no runs; have {sorted(preds)}")
    return {
        strategy: paired_differences(preds[reference], p, classes, n_boot, seed, level)
        for strategy, p in preds.items()
        if strategy != reference
    }


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
