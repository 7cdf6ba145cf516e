"""Pictures of an audit: image grids (PIL) and histograms / bar charts (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

MIN_TILE_PX = 96
GAP_PX = 4


def _tile(img: np.ndarray, tile_px: int) -> Image.Image:
    im = Image.fromarray(img)
    return im if im.size[0] == tile_px else im.resize((tile_px, tile_px), Image.NEAREST)


def save_rows(
    rows: Sequence[Sequence[np.ndarray]],
    path: Path,
    labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    separator_after: int | None = None,
) -> None:
    """Grid with one row per entry of ``rows`` (uint8 HxWx3 tiles), an optional label on the
    left of each row, a caption under each tile, and a wider gap after column
    ``separator_after``."""
    if not rows:
        return
    size = rows[0][0].shape[0]
    tile = max(size, MIN_TILE_PX // size * size) if size < MIN_TILE_PX else size
    label_w = 150 if labels else 0
    cap_h = 14 if captions else 0
    cols = max(len(r) for r in rows)
    extra = 3 * GAP_PX if separator_after is not None else 0
    width = label_w + cols * (tile + GAP_PX) + extra
    height = len(rows) * (tile + cap_h + GAP_PX)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        y = r * (tile + cap_h + GAP_PX)
        if labels:
            draw.text((4, y + tile // 2 - 6), labels[r][:24], fill=(0, 0, 0))
        for c, img in enumerate(row):
            x = label_w + c * (tile + GAP_PX)
            if separator_after is not None and c > separator_after:
                x += extra
            canvas.paste(_tile(img, tile), (x, y))
            if captions and c < len(captions[r]):
                draw.text((x + 2, y + tile + 1), captions[r][c][:20], fill=(0, 0, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def overlay_mask(image: np.ndarray, mask: np.ndarray, color=(255, 0, 0)) -> np.ndarray:
    """The image with mask pixels painted in ``color``."""
    out = image.copy()
    out[mask] = color
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_histograms(
    panels: dict[str, dict[str, np.ndarray]], path: Path, xlabel: str, bins: int = 30
) -> None:
    """One panel per key of ``panels``; each panel overlays its named samples (density)."""
    plt = _pyplot()
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        values = [v for v in series.values() if len(v)]
        hi = max((float(np.max(v)) for v in values), default=1.0) or 1.0
        edges = np.linspace(0.0, hi * 1.001, bins + 1)
        for name, v in series.items():
            if len(v):
                ax.hist(v, bins=edges, alpha=0.5, density=True, label=f"{name} (n={len(v)})")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_metric_bars(values: dict[str, tuple[float, float]], path: Path, title: str) -> None:
    """Bars of (synthetic, real-vs-real floor) per metric, one small panel per metric."""
    plt = _pyplot()
    names = list(values)
    fig, axes = plt.subplots(1, len(names), figsize=(1.9 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        syn, floor = values[name]
        ax.bar([0, 1], [np.nan_to_num(syn), np.nan_to_num(floor)], color=["tab:red", "tab:gray"])
        ax.set_xticks([0, 1], ["synthetic", "floor"], fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_pca_scatter(
    real: np.ndarray,
    fake: np.ndarray,
    real_labels: Sequence[str],
    fake_labels: Sequence[str],
    path: Path,
    title: str,
) -> None:
    """Real and synthetic features projected on the real features' first two principal axes."""
    plt = _pyplot()
    mean = real.mean(0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    pr, pf = (real - mean) @ vt[:2].T, (fake - mean) @ vt[:2].T
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    classes = sorted(set(real_labels) | set(fake_labels))
    colors = plt.get_cmap("tab10")
    for i, c in enumerate(classes):
        r = np.array([lab == c for lab in real_labels])
        f = np.array([lab == c for lab in fake_labels])
        if r.any():
            ax.scatter(*pr[r].T, s=8, color=colors(i), alpha=0.5, label=f"real {c}")
        if f.any():
            ax.scatter(*pf[f].T, s=14, color=colors(i), marker="x", label=f"synthetic {c}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
