"""Plots of a Turing test's results (matplotlib, Agg backend, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_PNG_META = {"Software": None}  # no matplotlib version in the file: same input, same bytes


def save_plots(out: Path, res: dict[str, Any]) -> list[Path]:
    """accuracy_per_rater.png, accuracy_by_confidence.png, fool_rate.png; returns the paths."""
    return [
        _accuracy_per_rater(out / "accuracy_per_rater.png", res["raters"], res["pooled"]),
        _by_confidence(out / "accuracy_by_confidence.png", res["by_confidence"]),
        _fool_rate(out / "fool_rate.png", res["per_image"]),
    ]


def _accuracy_per_rater(path: Path, raters: list[dict], pooled: dict) -> Path:
    rows = [r for r in raters if r["n_answers"]] + [{**pooled, "rater": "all raters"}]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(rows)), 3.6), dpi=100)
    xs = range(len(rows))
    acc = [r["accuracy"] for r in rows]
    err = [
        [a - r["accuracy_ci_low"] for a, r in zip(acc, rows)],
        [r["accuracy_ci_high"] - a for a, r in zip(acc, rows)],
    ]
    colors = ["#2f6f9f"] * (len(rows) - 1) + ["#1d2733"]
    ax.bar(xs, acc, yerr=err, capsize=4, color=colors)
    ax.axhline(0.5, color="#a4262c", ls="--", lw=1, label="chance")
    for x, r in zip(xs, rows):
        ax.text(x, 0.02, f"p={r['binomial_p']:.2g}", ha="center", color="white", fontsize=8)
    ax.set_xticks(list(xs), [r["rater"] for r in rows], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95 % CI)")
    ax.set_title("Real vs synthetic: accuracy per rater")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def _by_confidence(path: Path, rows: list[dict]) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 3.4), dpi=100)
    ks = [r["confidence"] for r in rows]
    acc = [r["accuracy"] if r["accuracy"] is not None else 0.0 for r in rows]
    bars = ax.bar(ks, acc, color="#2f6f9f")
    for bar, r in zip(bars, rows):
        color = "white" if r["n_answers"] else "black"
        x = bar.get_x() + bar.get_width() / 2
        ax.text(x, 0.02, f"n={r['n_answers']}", ha="center", color=color, fontsize=8)
    ax.axhline(0.5, color="#a4262c", ls="--", lw=1)
    ax.set_xticks(ks)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (1 = guessing, 5 = certain)")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy by confidence")
    return _save(fig, path)


def _fool_rate(path: Path, per_image: list[dict]) -> Path:
    fig, ax = plt.subplots(figsize=(4.8, 3.4), dpi=100)
    bins = [i / 10 for i in range(11)]
    for source, color in (("synthetic", "#c46a1b"), ("real", "#2f6f9f")):
        rates = [r["fool_rate"] for r in per_image if r["source"] == source and r["n_ratings"]]
        ax.hist(rates, bins=bins, alpha=0.6, color=color, label=f"{source} (n={len(rates)})")
    ax.set_xlabel("share of raters who were wrong")
    ax.set_ylabel("images")
    ax.set_title("Fool rate per image")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_PNG_META)
    plt.close(fig)
    return path
