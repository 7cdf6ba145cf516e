"""Figures and Markdown of ``experiment generators`` (from ``results.json`` and the directory).

``render_generators_markdown`` is what the docs pages show between the
``<!-- generators:NAME -->`` markers; a test checks that they hold exactly it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lesiongan.data.manifest import load_dataset
from lesiongan.data.synthetic import load_synthetic
from lesiongan.errors import LesionganError
from lesiongan.experiments.figures import _label, _plt, _png, _tile

CURVE_KEYS = ("fid", "recall", "precision", "coverage")


def curve_plot(results: dict[str, Any]) -> bytes:
    """Quality against training time: one panel per measure, one line per generator, the
    real-vs-real floor dashed."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(CURVE_KEYS), figsize=(4.2 * len(CURVE_KEYS), 3.3))
    floor = results.get("floor", {})
    for ax, key in zip(axes, CURVE_KEYS):
        for name, g in results["generators"].items():
            pts = [p for p in g["curve"] if p.get(key) is not None]
            ax.plot([p["minutes"] for p in pts], [p[key] for p in pts], marker="o", label=name)
        if floor.get(key) is not None:
            ax.axhline(floor[key], color="grey", ls="--", lw=1, label="real vs real")
        ax.set(xlabel="training minutes", title=_label(key))
        if key == "fid":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _png(fig)


def side_by_side_grids(exp_dir: Path, results: dict[str, Any], n: int = 8, size: int = 64):
    """Per class: a row of real training images, then a row per generator (its final sample),
    each row labelled. ``{class: PNG bytes}``; empty when the dataset is gone (a missing
    synthetic directory is an error naming it)."""
    try:
        ds = load_dataset(Path(results["dataset"]["path"]), check_files=False)
    except LesionganError:
        return {}
    label_w, out = 110, {}
    for cls in results["classes"]:
        rows = [("real", [ds.image_path(x) for x in ds.split_rows("train") if x.label == cls][:n])]
        for name, g in results["generators"].items():
            syn = load_synthetic(Path(exp_dir) / g["sample"]["dir"])
            rows.append((name, [syn.image_path(r) for r in syn.rows if r.label == cls][:n]))
        canvas = Image.new("RGB", (label_w + n * size, len(rows) * size), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i, (name, paths) in enumerate(rows):
            draw.text((4, i * size + size // 2 - 6), name, fill=(0, 0, 0))
            for k, p in enumerate(paths):
                canvas.paste(_tile(p, size), (label_w + k * size, i * size))
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        out[cls] = buf.getvalue()
    return out


def _num(v: float | None, digits: int = 2) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:.0f}"


def render_generators_table(results: dict[str, Any]) -> str:
    """One row per generator: budget, kimg, FID/KID/precision/recall/density/coverage, MS-SSIM,
    C_T, near-duplicates, CAS; the real-vs-real floor as the last row."""
    header = [
        "generator",
        "trained",
        "kimg",
        "FID",
        "KID",
        "precision",
        "recall",
        "density",
        "coverage",
        "MS-SSIM",
        "C_T",
        "near-dup.",
        "CAS [95 % CI]",
    ]
    rows = []
    for name, g in results["generators"].items():
        t, r = g["training"], g["realism"]
        mem = g.get("memorization") or {}
        cas = g.get("cas")
        cas_s = "–"
        if cas:
            ci = (
                f" [{_num(cas['ci_low'])}, {_num(cas['ci_high'])}]"
                if cas.get("ci_low") is not None
                else ""
            )
            cas_s = f"{_num(cas['cas'])}{ci}"
        where = t.get("device") or "device not recorded"
        rows.append(
            [
                f"{name} ({t['arch']}, {t['channels']} ch)",
                f"{_num(t['minutes'], 1)} min, {where}",
                _num(t["kimg"], 1),
                _num(r.get("fid"), 1),
                _num(r.get("kid_mean"), 2),
                _num(r.get("precision")),
                _num(r.get("recall")),
                _num(r.get("density")),
                _num(r.get("coverage")),
                _num(r.get("ms_ssim"), 3),
                _num(mem.get("ct_statistic"), 1),
                "–" if mem.get("n_near_duplicates") is None else str(mem["n_near_duplicates"]),
                cas_s,
            ]
        )
    f = results["floor"]
    rows.append(
        [
            "real vs real (floor)",
            "",
            "",
            _num(f.get("fid"), 1),
            _num(f.get("kid_mean"), 2),
            _num(f.get("precision")),
            _num(f.get("recall")),
            _num(f.get("density")),
            _num(f.get("coverage")),
            _num(f.get("ms_ssim"), 3),
            "",
            "",
            "1 (by definition)",
        ]
    )
    return _markdown(header, rows)


def render_per_class_table(results: dict[str, Any]) -> str:
    """Per class, each generator and the class's real-vs-real floor: FID, recall, coverage and
    within-class MS-SSIM (diversity: lower = more varied; the floor is the real images' own)."""
    keys = ("fid", "recall", "coverage", "ms_ssim")
    header = ["class", "generator", "FID", "recall", "coverage", "MS-SSIM"]
    rows = []
    gens = results["generators"]
    for c in results["classes"]:
        for name, g in gens.items():
            r = g["realism"]
            rows.append(
                [
                    _label(c),
                    name,
                    *(_num(r.get(f"{k}_{c}"), 3 if k == "ms_ssim" else 2) for k in keys),
                ]
            )
        first = next(iter(gens.values()))["realism"]
        rows.append(
            [
                _label(c),
                "real vs real (floor)",
                *(_num(first.get(f"{k}_{c}_floor"), 3 if k == "ms_ssim" else 2) for k in keys),
            ]
        )
    return _markdown(header, rows)


def render_generators_sentence(results: dict[str, Any]) -> str:
    best = results.get("best", {})
    fid_w, rec_w, cas_w = best.get("fid"), best.get("recall"), best.get("cas")
    parts = []
    if fid_w:
        g = results["generators"][fid_w]["realism"]
        ratio = g["fid"] / results["floor"]["fid"] if results["floor"].get("fid") else None
        parts.append(
            f"lowest FID: {fid_w} ({_num(g['fid'], 1)}, {_num(ratio, 1)}× the real-vs-real floor)"
        )
    if rec_w:
        g = results["generators"][rec_w]["realism"]
        parts.append(
            f"highest recall: {rec_w} ({_num(g['recall'])} against the floor's "
            f"{_num(results['floor'].get('recall'))})"
        )
    if cas_w:
        parts.append(f"highest CAS: {cas_w} ({_num(results['generators'][cas_w]['cas']['cas'])})")
    return "In the baseline classifier's features, " + "; ".join(parts) + "." if parts else ""


def render_generators_markdown(results: dict[str, Any]) -> str:
    return "\n\n".join(
        [
            render_generators_table(results),
            render_per_class_table(results),
            render_generators_sentence(results),
        ]
    )


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
