"""A hand-made ``results.json`` of an imbalance experiment with synthetic variants, and the run
directories ``build_report`` reads (imported by name: tests/experiments is on sys.path)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]
REAL_ONLY = ["none", "oversample"]
VARIANTS = {"all": (None, 1.0), "d-score": ("d-score", 0.5)}
SEEDS = [0, 1]
SUMMARY_KEYS = (
    "balanced_accuracy",
    "accuracy",
    "macro_auc",
    "melanoma_auc",
    "keratosis_auc",
    *(f"sensitivity_{c}" for c in CLASSES),
)
PAIRED_KEYS = ("balanced_accuracy", *(f"sensitivity_{c}" for c in CLASSES))
# paired vs the reference (oversample): (strategy, metric) -> (diff, ci_low, ci_high)
PLANTED = {
    ("synthetic-balance@d-score", "balanced_accuracy"): (0.041, 0.012, 0.07),
    ("synthetic-only@all", "balanced_accuracy"): (-0.2, -0.31, -0.09),
    ("synthetic-only@d-score", "balanced_accuracy"): (-0.18, -0.29, -0.07),
    ("synthetic-only@all", "sensitivity_melanoma"): (-0.25, -0.4, -0.1),
}


def strategies() -> list[str]:
    with_syn = [f"{s}@{v}" for v in VARIANTS for s in ("synthetic-balance", "synthetic-only")]
    return REAL_ONLY + with_syn


def _interval(rng: np.random.Generator, low: float = 0.3, high: float = 0.9) -> dict[str, Any]:
    values = sorted(rng.uniform(low, high, size=len(SEEDS)).tolist())
    mean = float(np.mean(values))
    return {"n": 2, "values": values, "mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05}


def _paired(rng: np.random.Generator, strategy: str, planted: bool) -> dict[str, Any]:
    out = {}
    for k in PAIRED_KEYS:
        diff = float(rng.uniform(-0.05, 0.05))
        lo, hi = diff - 0.06, diff + 0.06
        if planted and (strategy, k) in PLANTED:
            diff, lo, hi = PLANTED[(strategy, k)]
        out[k] = {
            "diff": diff,
            "n_seeds": 2,
            "seeds": SEEDS,
            "ci_low": lo,
            "ci_high": hi,
            "p_not_better": float(rng.uniform()),
            "img_ci_low": lo / 2,
            "img_ci_high": hi / 2,
            "img_p_not_better": float(rng.uniform()),
            "t_ci_low": lo * 3,
            "t_ci_high": hi * 3,
        }
    return out


def make_results(seed: int = 0) -> dict[str, Any]:
    """Every field ``build_report`` and the verdict read; the reference is ``oversample``."""
    rng = np.random.default_rng(seed)
    names = strategies()
    summary = {s: {k: _interval(rng) for k in SUMMARY_KEYS} for s in names}
    summary["oversample"]["balanced_accuracy"] = _interval(rng, 0.91, 0.95)  # the best real-only
    variants = {}
    for v, (select, keep) in VARIANTS.items():
        realism = {"features": "domain"}
        for k in ("fid", "kid_mean", "precision", "recall", "coverage", "density", "ms_ssim"):
            realism[k] = float(rng.uniform(0.01, 30 if k == "fid" else 1))
            realism[f"{k}_floor"] = float(rng.uniform(0.01, 5 if k == "fid" else 1))
        cas = float(rng.uniform(0.3, 0.9))
        variants[v] = {
            "dir": f"synthetic/{v}",
            "select": select,
            "keep": keep,
            "classifier": None,
            "selection": {"method": select, "keep": keep} if select else None,
            "counts": {c: 6 for c in CLASSES},
            "realism": realism,
            "cas": {"cas": cas, "ci_low": cas - 0.1, "ci_high": cas + 0.1, "n_pairs": 2},
        }
    variants["d-score"]["realism"]["coverage_floor"] = None  # a metric without its floor
    runs = {}
    for s in names:
        for k in SEEDS:
            matrix = rng.integers(0, 10, size=(3, 3)).tolist()
            metrics = {"balanced_accuracy": summary[s]["balanced_accuracy"]["values"][k]}
            runs[f"{s}/seed-{k}"] = {
                "dir": f"runs/{s}/seed-{k}",
                "strategy": s.split("@")[0],
                "seed": k,
                "metrics": {**metrics, "confusion_matrix": matrix},
            }
    return {
        "experiment": "imbalance",
        "classes": CLASSES,
        "dataset": {
            "path": "/nonexistent/dataset",
            "counts": {"train": {"melanoma": 9, "seborrheic_keratosis": 6, "nevus": 21}},
            "image_size": 16,
        },
        "strategies": names,
        "real_only_strategies": REAL_ONLY,
        "seeds": SEEDS,
        "baseline": "none",
        "synthetic": {"dir": "synthetic", "per_class": {c: 6 for c in CLASSES}},
        "gan_run": None,
        "variant_dirs": {v: {"dir": f"synthetic/{v}", "sample_reused": False} for v in VARIANTS},
        "runs": runs,
        "summary": summary,
        "paired": {s: _paired(rng, s, False) for s in names if s != "none"},
        "reference": "oversample",
        "paired_vs_reference": {s: _paired(rng, s, True) for s in names if s != "oversample"},
        "variants": variants,
        "seconds": 12.5,
    }


def write_experiment(out: Path, results: dict[str, Any]) -> Path:
    """``results.json`` and each run's ``predictions.csv`` (the same test images for all)."""
    rng = np.random.default_rng(1)
    labels = [CLASSES[i % 3] for i in range(12)]
    for run in results["runs"].values():
        d = out / run["dir"]
        d.mkdir(parents=True)
        probs = rng.dirichlet(np.ones(3), size=len(labels))
        with open(d / "predictions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "split", "label", *(f"prob_{c}" for c in CLASSES)])
            for i, (lab, p) in enumerate(zip(labels, probs)):
                w.writerow([f"IMG_{i}", "test", lab, *(f"{x:.4f}" for x in p)])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return out
