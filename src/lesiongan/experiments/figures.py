"""The report's figures, each returned as PNG bytes (embedded in report.html, saved in figures/)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _label(key: str) -> str:
    return key.replace("_", " ").replace("seborrheic keratosis", "keratosis")


def interval_plot(
    summary: dict[str, dict[str, Any]], keys: list[str], strategies: list[str]
) -> bytes:
    """One panel per metric: each seed's score (dots) and the mean with its 95 % interval."""
    plt = _plt()
    keys = [k for k in keys if any(summary[s][k]["mean"] is not None for s in strategies)]
    cols = min(2, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 0.45 * len(strategies) * rows + 1.4 * rows), squeeze=False
    )
    y = np.arange(len(strategies))[::-1]
    for ax, key in zip(axes.ravel(), keys):
        for yi, s in zip(y, strategies):
            m = summary[s][key]
            ax.scatter(m["values"], [yi] * len(m["values"]), s=12, color="#9bb7d4", zorder=2)
            if m["mean"] is not None:
                lo = m["ci_low"] if m["ci_low"] is not None else m["mean"]
                hi = m["ci_high"] if m["ci_high"] is not None else m["mean"]
                ax.errorbar(
                    m["mean"],
                    yi,
                    xerr=[[m["mean"] - lo], [hi - m["mean"]]],
                    fmt="o",
                    color="#1f4e79",
                    capsize=3,
                    zorder=3,
                )
        ax.set_yticks(y, strategies)
        ax.set_title(_label(key))
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def per_class_sensitivity(summary, strategies: list[str], classes: list[str]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(strategies) * len(classes) / 3, 3.4))
    width = 0.8 / len(classes)
    x = np.arange(len(strategies))
    for i, c in enumerate(classes):
        ms = [summary[s][f"sensitivity_{c}"] for s in strategies]
        mean = np.array([np.nan if m["mean"] is None else m["mean"] for m in ms])
        lo = np.array([m["ci_low"] if m["ci_low"] is not None else np.nan for m in ms])
        hi = np.array([m["ci_high"] if m["ci_high"] is not None else np.nan for m in ms])
        err = np.nan_to_num(np.vstack([mean - lo, hi - mean]))
        ax.bar(
            x + (i - (len(classes) - 1) / 2) * width,
            mean,
            width,
            yerr=err,
            capsize=2,
            label=_label(c),
        )
    ax.set_xticks(x, strategies, rotation=20, ha="right")
    ax.set(ylabel="sensitivity (mean over seeds, 95 % CI)", ylim=(0, 1.05))
    ax.legend(frameon=False, ncol=len(classes), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return _png(fig)


def paired_plot(paired: dict[str, dict[str, Any]], keys: list[str], baseline: str) -> bytes:
    """Forest plot: difference from the baseline on the same seeds and test images."""
    plt = _plt()
    strategies = list(paired)
    fig, axes = plt.subplots(
        1, len(keys), figsize=(4.4 * len(keys), 0.45 * len(strategies) + 1.3), squeeze=False
    )
    y = np.arange(len(strategies))[::-1]
    for ax, key in zip(axes[0], keys):
        for yi, s in zip(y, strategies):
            d = paired[s].get(key)
            if not d or d["diff"] is None or d["ci_low"] is None:
                continue
            ax.errorbar(
                d["diff"],
                yi,
                xerr=[[d["diff"] - d["ci_low"]], [d["ci_high"] - d["diff"]]],
                fmt="o",
                color="#7a1f1f" if d["ci_high"] < 0 else "#1f4e79",
                capsize=3,
            )
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(y, strategies)
        ax.set_title(f"{_label(key)}: strategy - {baseline}")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def confusion_grid(confusions: dict[str, np.ndarray], classes: list[str]) -> bytes:
    """Row-normalized test confusion matrices per strategy, summed over seeds."""
    plt = _plt()
    n = len(confusions)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    short = [c[:3] for c in classes]
    for ax, (name, m) in zip(axes.ravel(), confusions.items()):
        share = m / np.clip(m.sum(axis=1, keepdims=True), 1, None)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    f"{share[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(len(classes)), short)
        ax.set_yticks(range(len(classes)), short)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], positive: str) -> bytes:
    """One-vs-rest ROC of ``positive`` per strategy (test predictions pooled over seeds)."""
    from sklearn.metrics import roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, (is_pos, score) in curves.items():
        if 0 < is_pos.sum() < is_pos.size:
            fpr, tpr, _ = roc_curve(is_pos, score)
            ax.plot(fpr, tpr, lw=1.3, label=name)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"{_label(positive)} vs rest")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def gan_curves(stats_path: Path) -> bytes | None:
    import json

    if not stats_path.is_file():
        return None
    rows = [json.loads(line) for line in stats_path.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    plt = _plt()
    kimg = [r["kimg"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
    for key in sorted({k for r in rows for k in r if k.startswith("loss_")}):
        a1.plot(kimg, [r.get(key, np.nan) for r in rows], label=key[5:], lw=1)
    a1.set(xlabel="kimg", title="GAN losses")
    a1.legend(frameon=False)
    a2.plot(kimg, [r.get("augment_p", np.nan) for r in rows], label="augment p", lw=1)
    a2.plot(
        kimg,
        [r["resolution"] / max(rr["resolution"] for rr in rows) for r in rows],
        label="resolution / final",
        lw=1,
        ls="--",
    )
    a2.set(xlabel="kimg", title="augmentation and growth", ylim=(0, 1.05))
    a2.legend(frameon=False)
    fig.tight_layout()
    return _png(fig)


def sample_grid(
    real: dict[str, list[Path]], synthetic: dict[str, list[Path]], size: int = 64
) -> bytes:
    """One row per class: real training images (left) | synthetic images (right)."""
    classes = [c for c in real if real[c] or synthetic.get(c)]
    n = max([len(v) for v in real.values()] + [len(v) for v in synthetic.values()] + [1])
    gap = 12
    w = 2 * n * size + gap
    canvas = Image.new("RGB", (w, len(classes) * size), (255, 255, 255))
    for row, c in enumerate(classes):
        for k, p in enumerate(real.get(c, [])):
            canvas.paste(_tile(p, size), (k * size, row * size))
        for k, p in enumerate(synthetic.get(c, [])):
            canvas.paste(_tile(p, size), (n * size + gap + k * size, row * size))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _tile(path: Path, size: int) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def scarcity_plot(curve: list[dict[str, Any]], keys: list[str]) -> bytes:
    """Metric vs number of real training labels, one line per (strategy), with 95 % intervals."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    strategies = sorted({r["strategy"] for r in curve})
    for ax, key in zip(axes[0], keys):
        for s in strategies:
            pts = sorted((r for r in curve if r["strategy"] == s), key=lambda r: r["n_train"])
            x = [r["n_train"] for r in pts]
            m = [r[key]["mean"] if r[key]["mean"] is not None else np.nan for r in pts]
            lo = [r[key]["ci_low"] if r[key]["ci_low"] is not None else np.nan for r in pts]
            hi = [r[key]["ci_high"] if r[key]["ci_high"] is not None else np.nan for r in pts]
            ax.plot(x, m, marker="o", label=s)
            ax.fill_between(x, lo, hi, alpha=0.2)
        ax.set(xscale="log", xlabel="real training labels", title=_label(key))
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    fig.tight_layout()
    return _png(fig)


def delta_vs_fraction(per_fraction: dict[str, dict[str, Any]], keys: list[str]) -> bytes | None:
    """Difference from the best real-only strategy (chosen on validation per fraction) against
    the labelled fraction: each synthetic strategy (solid) and its oracle ceiling (dashed: the
    held-out real images in place of synthetic ones), with 95 % intervals."""
    plt = _plt()
    series: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for p in per_fraction.values():
        for s, d in (p.get("paired_vs_reference") or {}).items():
            if "@" in s and not s.startswith("synthetic-only"):
                series.setdefault(s, []).append((p["fraction"], d))
    if not series:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (s, pts) in enumerate(sorted(series.items())):
            pts = sorted(pts, key=lambda t: t[0])
            x = np.array([f for f, _ in pts]) * (1 + 0.03 * (i - len(series) / 2))  # dodge
            d = [q.get(key) or {} for _, q in pts]
            m = np.array([v.get("diff") if v.get("diff") is not None else np.nan for v in d])
            lo = np.array([v.get("ci_low") if v.get("ci_low") is not None else np.nan for v in d])
            hi = np.array([v.get("ci_high") if v.get("ci_high") is not None else np.nan for v in d])
            style = "--" if "@oracle" in s else "-"
            ax.errorbar(x, m, yerr=[m - lo, hi - m], fmt="o" + style, capsize=3, label=s)
        ax.axhline(0, color="black", lw=0.8)
        ax.set(xscale="log", xlabel="fraction of the training labels", title=f"Δ {_label(key)}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("difference from the best real-only")
    axes[0][-1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _png(fig)
