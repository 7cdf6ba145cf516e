"""The verdict's statistics: paired differences with generators, seeds and test images as
levels, threshold-free endpoints, equivalence and a multiplicity correction.

A synthetic cell is a crossed design: G generators (GAN runs, e.g. two GAN seeds) x S classifier
seeds, every run tested on the same N test images; the reference (a real-only strategy) has the
S seeds only. The difference of cell (g, s) from the reference is ``metric(g, s) - metric(s)``.
Its uncertainty has three sources, and each is resampled (a hierarchical / "pigeonhole"
bootstrap for crossed designs; Owen 2007, Ann. Appl. Stat.): each replicate draws generators with
replacement, classifier seeds with replacement (the same drawn seed for the cell and its
reference: pairing) and, independently, test images with replacement (shared by every run, as the
images are). The replicate's difference is the mean over the drawn (g, s) pairs. A cell with one
generator (or a real-only strategy) has no generator level; it says so (``n_generators``).

Endpoints: the threshold-free primary ones, the one-vs-rest AUC of every class
(``auc_<class>``, ``melanoma_auc``, ``keratosis_auc``) and their mean (``macro_auc``); the
secondary ones at the argmax operating point, ``balanced_accuracy`` and each class's
``sensitivity_<class>`` and ``specificity_<class>``. AUCs under resampled images are computed
exactly with image weights (a weighted Mann-Whitney statistic, ties counted half).

Per endpoint: ``diff`` (the mean over (g, s)), the 95 % percentile interval, ``p_not_better``
(share of replicates <= 0, one-sided), ``p_two_sided``, the equivalence test (TOST, Schuirmann
1987, against ``margin``: ``p_tost`` = the larger of the shares below ``-margin`` and above
``+margin``; equivalent when below alpha, i.e. the 90 % interval lies inside the margin), and
beside them, for reading, the Student-t interval over the per-seed differences (seeds only).
:func:`holm` adjusts a family of p-values (Holm 1979, "A simple sequentially rejective multiple
test procedure").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lesiongan.experiments.aggregate import Preds, t_interval

AUC_ALIASES = {"melanoma_auc": "melanoma", "keratosis_auc": "seborrheic_keratosis"}
PRIMARY = ("melanoma_auc", "keratosis_auc", "macro_auc")
RunKey = tuple[str, int]  # (generator id, classifier seed); the reference uses generator ""


def endpoint_keys(classes: list[str]) -> list[str]:
    """Every endpoint :func:`run_metric_rows` computes, primary first."""
    keys = [k for k in PRIMARY if k == "macro_auc" or AUC_ALIASES[k] in classes]
    keys += [f"auc_{c}" for c in classes]
    keys += ["balanced_accuracy"]
    keys += [f"sensitivity_{c}" for c in classes] + [f"specificity_{c}" for c in classes]
    return keys


def image_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[1 + B, n]: row 0 all ones (the observed test set), then B bootstrap resample counts."""
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
    return np.vstack([np.ones((1, n)), counts])


def weighted_auc(scores: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[R] AUCs of ``scores`` [N] for the ``positive`` [N] class under image weights ``w`` [R, N].

    The probability that a positive image outranks a negative one, each image counted with its
    weight, ties counted half (the Mann-Whitney U over weighted pairs). NaN where a row has no
    positive or no negative weight.
    """
    order = np.argsort(scores, kind="stable")
    s = np.asarray(scores, dtype=np.float64)[order]
    pos = np.asarray(positive, dtype=bool)[order]
    ws = w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    pos_g = np.add.reduceat(ws * pos, starts, axis=1)
    neg_g = np.add.reduceat(ws * ~pos, starts, axis=1)
    below = np.cumsum(neg_g, axis=1) - neg_g
    num = (pos_g * (below + 0.5 * neg_g)).sum(axis=1)
    den = pos_g.sum(axis=1) * neg_g.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def run_metric_rows(
    y: np.ndarray, probs: np.ndarray, w: np.ndarray, classes: list[str]
) -> dict[str, np.ndarray]:
    """Every endpoint of one run under each row of image weights ``w`` [R, N] -> {key: [R]}."""
    out: dict[str, np.ndarray] = {}
    pred = probs.argmax(1)
    onehot = np.eye(len(classes))[y]
    total = w @ onehot  # [R, C] weighted class counts
    hit = w @ (onehot * (pred == y)[:, None])
    pred_c = np.eye(len(classes))[pred]
    neg_total = w.sum(axis=1, keepdims=True) - total
    false_pos = w @ (pred_c * (1 - onehot))
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(total > 0, hit / total, np.nan)
        spec = np.where(neg_total > 0, 1 - false_pos / neg_total, np.nan)
    aucs = np.stack([weighted_auc(probs[:, i], y == i, w) for i in range(len(classes))], 1)
    out["macro_auc"] = _nanmean(aucs)
    for alias, c in AUC_ALIASES.items():
        if c in classes:
            out[alias] = aucs[:, classes.index(c)]
    for i, c in enumerate(classes):
        out[f"auc_{c}"] = aucs[:, i]
        out[f"sensitivity_{c}"] = sens[:, i]
        out[f"specificity_{c}"] = spec[:, i]
    out["balanced_accuracy"] = _nanmean(sens)
    return out


def _nanmean(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, a, 0).sum(axis=1) / n, np.nan)


def hierarchical_differences(
    reference: Mapping[int, Preds],
    other: Mapping[RunKey, Preds],
    classes: list[str],
    n_boot: int = 2000,
    seed: int = 0,
    margin: float = 0.02,
    level: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """``other - reference`` for every endpoint (see the module doc).

    ``reference``: ``{classifier seed: preds}``; ``other``: ``{(generator, seed): preds}``
    (generator ``""`` for a real-only strategy). Only seeds both have are paired. Raises
    ValueError when the runs were not tested on the same images with the same labels.
    """
    seeds = sorted(set(reference) & {s for _, s in other})
    gens = sorted({g for g, s in other if s in seeds})
    if not seeds:
        return {}
    missing = [(g, s) for g in gens for s in seeds if (g, s) not in other]
    if missing:
        raise ValueError(f"the design is not crossed: no run for generator/seed {missing[0]}")
    ids, y = reference[seeds[0]][0], reference[seeds[0]][1]
    for p in [*(reference[s] for s in seeds), *(other[(g, s)] for g in gens for s in seeds)]:
        if list(p[0]) != list(ids) or not np.array_equal(p[1], y):
            raise ValueError("runs were tested on different images; cannot pair them")
    rng = np.random.default_rng(seed)
    w = image_weights(len(ids), n_boot, rng)  # draw order is part of the contract of `seed`
    seed_counts = _draw_counts(rng, len(seeds), n_boot)  # [B, S]
    gen_counts = _draw_counts(rng, len(gens), n_boot)  # [B, G]
    ref_rows = {s: run_metric_rows(y, reference[s][2], w, classes) for s in seeds}
    out: dict[str, dict[str, Any]] = {}
    other_rows = {k: run_metric_rows(y, other[k][2], w, classes) for k in other if k[1] in seeds}
    for key in endpoint_keys(classes):
        d = np.stack(
            [np.stack([other_rows[(g, s)][key] - ref_rows[s][key] for s in seeds]) for g in gens]
        )  # [G, S, 1 + B]
        out[key] = _summarize_diff(d, gen_counts, seed_counts, margin, level)
        out[key].update(n_seeds=len(seeds), seeds=seeds, n_generators=len(gens))
    return out


def _draw_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    draws = rng.integers(0, n, size=(n_boot, n))
    return np.stack([np.bincount(r, minlength=n) for r in draws]).astype(np.float64)


def _summarize_diff(
    d: np.ndarray, gen_counts: np.ndarray, seed_counts: np.ndarray, margin: float, level: float
) -> dict[str, Any]:
    g, s = d.shape[:2]
    point = d[:, :, 0]
    if np.isnan(point).all():
        return {"diff": None}
    boot = d[:, :, 1:]  # [G, S, B]
    with np.errstate(invalid="ignore"):
        rep = np.einsum("bg,bs,gsb->b", gen_counts, seed_counts, np.nan_to_num(boot)) / (g * s)
    rep = rep[~np.isnan(boot).any(axis=(0, 1))]  # a class absent from a resample: left out
    per_seed = np.nanmean(point, axis=0).tolist()  # each seed's difference, over generators
    _, t_lo, t_hi = t_interval(per_seed, level)
    out: dict[str, Any] = {"diff": float(np.nanmean(point)), "t_ci_low": t_lo, "t_ci_high": t_hi}
    if rep.size == 0:
        return out | {"ci_low": None, "ci_high": None, "p_not_better": None}
    lo, hi = np.percentile(rep, [50 * (1 - level), 50 * (1 + level)])
    lo90, hi90 = np.percentile(rep, [5, 95])
    n = rep.size
    below, above = (rep <= 0).sum(), (rep >= 0).sum()
    out.update(
        ci_low=float(lo),
        ci_high=float(hi),
        ci90_low=float(lo90),
        ci90_high=float(hi90),
        p_not_better=float(below / n),
        # two-sided bootstrap p-value; (k + 1) / (n + 1) never claims p = 0 from n replicates
        p_two_sided=float(min(1.0, 2 * (min(below, above) + 1) / (n + 1))),
        margin=margin,
        p_tost=float((max((rep <= -margin).sum(), (rep >= margin).sum()) + 1) / (n + 1)),
        n_boot=int(n),
    )
    return out


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjusted p-values of a family (None stays None, not counted)."""
    items = sorted(((p, k) for k, p in p_values.items() if p is not None), key=lambda x: x[0])
    m = len(items)
    adjusted: dict[str, float | None] = {k: None for k, p in p_values.items() if p is None}
    running = 0.0
    for i, (p, k) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[k] = running
    return adjusted


def call(diff: dict[str, Any], p_adj: float | None, p_tost_adj: float | None, alpha: float) -> str:
    """``better`` / ``worse`` (adjusted two-sided p < alpha), ``equivalent`` (adjusted TOST
    p < alpha: the difference lies within the margin), else ``inconclusive``."""
    if diff.get("diff") is None or p_adj is None:
        return "inconclusive"
    if p_adj < alpha:
        return "better" if diff["diff"] > 0 else "worse"
    if p_tost_adj is not None and p_tost_adj < alpha:
        return "equivalent"
    return "inconclusive"


def verdict_calls(
    paired: Mapping[str, Mapping[str, dict[str, Any]]],
    endpoints: list[str],
    alpha: float = 0.05,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per endpoint, Holm over the family of cells in ``paired`` ({cell: {endpoint: diff}}),
    for the difference test and for the equivalence test separately.

    Returns ``{cell: {endpoint: {"p_holm", "p_tost_holm", "call"}}}``.
    """
    calls: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in paired}
    for key in endpoints:
        p = holm({c: d.get(key, {}).get("p_two_sided") for c, d in paired.items()})
        tost = holm({c: d.get(key, {}).get("p_tost") for c, d in paired.items()})
        for c, d in paired.items():
            calls[c][key] = {
                "p_holm": p.get(c),
                "p_tost_holm": tost.get(c),
                "call": call(d.get(key, {}), p.get(c), tost.get(c), alpha),
            }
    return calls


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
