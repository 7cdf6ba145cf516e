"""Plots of a Turing test's results (matplotlib's object API: safe in a server's threads)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_PNG_META = {"Software": None}  # no matplotlib version in the file: same input, same bytes


def _accuracy_per_rater(res: dict[str, Any]) -> Figure:
    rows = [r for r in res["raters"] if r["n_answers"]] + [{**res["pooled"], "rater": "all raters"}]
    fig = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(rows)), 3.6), dpi=100)
    ax = fig.subplots()
    xs = list(range(len(rows)))
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
    ax.set_xticks(xs, [r["rater"] for r in rows], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95 % CI)")
    ax.set_title("Real vs synthetic: accuracy per rater")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _accuracy_by_confidence(res: dict[str, Any]) -> Figure:
    rows = res["by_confidence"]
    fig = Figure(figsize=(4.5, 3.6), dpi=100)
    ax = fig.subplots()
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
    return fig


def _fool_rate(res: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(4.8, 3.6), dpi=100)
    ax = fig.subplots()
    bins = [i / 10 for i in range(11)]
    sources = ("synthetic", "real")
    rates = [
        [r["fool_rate"] for r in res["per_image"] if r["source"] == s and r["n_ratings"]]
        for s in sources
    ]
    labels = [f"{s} (n={len(v)})" for s, v in zip(sources, rates)]
    ax.hist(rates, bins=bins, color=["#c46a1b", "#2f6f9f"], label=labels)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("share of raters who were wrong")
    ax.set_ylabel("images")
    ax.set_title("Fool rate per image")
    ax.legend(fontsize=8)
    return fig


PLOTS: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "accuracy_per_rater": _accuracy_per_rater,
    "accuracy_by_confidence": _accuracy_by_confidence,
    "fool_rate": _fool_rate,
}


def plot_png(res: dict[str, Any], name: str) -> bytes:
    """One plot (a key of PLOTS) of ``compute_results`` output, as PNG bytes."""
    fig = PLOTS[name](res)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=_PNG_META)
    return buf.getvalue()


def save_plots(out: Path, res: dict[str, Any]) -> list[Path]:
    """Write every plot as ``<name>.png`` into ``out``; returns the paths."""
    paths = []
    for name in PLOTS:
        path = Path(out) / f"{name}.png"
        path.write_bytes(plot_png(res, name))
        paths.append(path)
    return paths
