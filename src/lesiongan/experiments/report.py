"""``report.html``: one self-contained page (figures embedded as data URIs) per experiment.

Everything shown comes from ``results.json`` and the run directories it names, so the numbers
in the page are the numbers in the file (tested). ``lesiongan report DIR`` rebuilds it; audit
results (``DIR/audit/<realism|memorization|hair>/metrics.json``) and a visual Turing test
(``DIR/turing/results.json``) are included when present.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

import lesiongan
from lesiongan.data.manifest import load_dataset
from lesiongan.errors import LesionganError
from lesiongan.evaluate import metrics as registry
from lesiongan.evaluate.structures import STRUCTURES
from lesiongan.experiments import figures, verdict_calls
from lesiongan.experiments.aggregate import read_test_predictions
from lesiongan.experiments.stats import PRIMARY
from lesiongan.experiments.verdict import render_verdict_sentence
from lesiongan.utils.outdir import write_text_atomic

TABLE_KEYS = (
    "balanced_accuracy",
    "sensitivity_melanoma",
    "sensitivity_seborrheic_keratosis",
    "macro_auc",
    "melanoma_auc",
)
AUDIT_KEYS = {  # what the audit section shows of each audit: the registry's keys
    "realism": (
        "features",
        "features_id",
        "n",
        *registry.with_floor_and_classes(registry.keys("realism"), ()),
    ),
    "memorization": ("features", "features_id", *registry.keys("memorization")),
    "hair": registry.keys("hair"),
    "structures": ("features_id", "image_size_px", *registry.keys("structures")),
}


def _uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def load_results(exp_dir: Path) -> dict[str, Any]:
    """An experiment directory's ``results.json`` (one-line errors when missing or broken)."""
    path = Path(exp_dir) / "results.json"
    if not path.is_file():
        raise LesionganError(f"{path}: missing; is {exp_dir} an experiment directory?")
    try:
        results = json.loads(path.read_text())
    except ValueError as exc:
        raise LesionganError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(results, dict) or "experiment" not in results:
        raise LesionganError(f"{path}: not an experiment's results (no 'experiment' key)")
    return results


def build_report(exp_dir: Path) -> Path:
    """Write ``report.html`` and ``figures/*.png`` for an experiment directory."""
    exp_dir = Path(exp_dir)
    results = load_results(exp_dir)
    figs: dict[str, bytes | None] = {}
    ctx: dict[str, Any] = {
        "r": results,
        "fmt": fmt,
        "version": lesiongan.__version__,
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    if results["experiment"] == "imbalance":
        ctx.update(_imbalance(exp_dir, results, figs))
    else:
        ctx.update(_scarcity(results, figs))
    ctx["audit"] = _audit(exp_dir)
    ctx["turing"] = _turing(exp_dir)
    ctx["config_text"] = (
        (exp_dir / "config.yaml").read_text() if (exp_dir / "config.yaml").is_file() else ""
    )
    (exp_dir / "figures").mkdir(exist_ok=True)
    for name, png in figs.items():
        if png is not None:
            (exp_dir / "figures" / f"{name}.png").write_bytes(png)
    ctx["fig"] = {k: _uri(v) for k, v in figs.items()}
    env = Environment(
        loader=PackageLoader("lesiongan.experiments", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    html = env.get_template("report.html.j2").render(**ctx)
    write_text_atomic(exp_dir / "report.html", html)
    return exp_dir / "report.html"


def _imbalance(exp_dir: Path, r: dict[str, Any], figs: dict[str, bytes | None]) -> dict[str, Any]:
    classes, strategies, summary = r["classes"], r["strategies"], r["summary"]
    keys = [
        k
        for k in ("balanced_accuracy", "macro_auc", "melanoma_auc", "keratosis_auc")
        if k in summary[strategies[0]]
    ]
    figs["metrics"] = figures.interval_plot(summary, keys, strategies)
    figs["sensitivity"] = figures.per_class_sensitivity(summary, strategies, classes)
    train = r["dataset"]["counts"].get("train", {})
    majority = max(train, key=train.get) if train else None
    paired_keys = ["balanced_accuracy"] + [f"sensitivity_{c}" for c in classes if c != majority]
    figs["paired"] = (
        figures.paired_plot(r["paired"], paired_keys, r["baseline"]) if r["paired"] else None
    )
    confusions: dict[str, np.ndarray] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    positive = "melanoma" if "melanoma" in classes else classes[0]
    for key, run in r["runs"].items():
        s = key.split("/")[0]
        confusions[s] = confusions.get(s, 0) + np.asarray(run["metrics"]["confusion_matrix"])
        _, y, probs = read_test_predictions(exp_dir / run["dir"], classes)
        pos = y == classes.index(positive)
        old = curves.get(s, (np.zeros(0, bool), np.zeros(0)))
        curves[s] = (
            np.concatenate([old[0], pos]),
            np.concatenate([old[1], probs[:, classes.index(positive)]]),
        )
    figs["confusion"] = figures.confusion_grid(confusions, classes)
    figs["roc"] = figures.roc_plot(curves, positive)
    if r.get("gan_run"):
        figs["gan_curves"] = figures.gan_curves(_resolve(exp_dir, r["gan_run"]) / "stats.jsonl")
    grids = _samples(exp_dir, r, classes)
    # the first set's grid keeps its old name (figures/samples.png); the others are named
    for i, (name, png) in enumerate(grids.items()):
        figs["samples" if i == 0 else f"samples-{name}"] = png
    sample_grids = [("samples" if i == 0 else f"samples-{n}", n) for i, n in enumerate(grids)]
    table = []
    for s in strategies:
        row = {"strategy": s, "cells": []}
        for k in TABLE_KEYS:
            if k in summary[s]:
                m = summary[s][k]
                row["cells"].append(
                    {"key": k, "mean": m["mean"], "lo": m["ci_low"], "hi": m["ci_high"]}
                )
        table.append(row)
    # the best real-only strategy, when it is not `none` (else the table above is that one)
    reference = r.get("reference")
    vs_reference = r.get("paired_vs_reference") if reference != r["baseline"] else None
    if vs_reference:
        figs["paired_reference"] = figures.paired_plot(vs_reference, paired_keys, reference)
    # the primary, threshold-free endpoints: AUC differences from the reference (or from
    # `none` when it is the reference), a forest plot beside the verdict
    against = vs_reference or r["paired"]
    first = next(iter(against.values()), {}) if against else {}
    primary = [k for k in PRIMARY if k in first]
    if primary:
        figs["primary"] = figures.paired_plot(against, primary, reference or r["baseline"])
    return {
        "table": table,
        "table_keys": [k for k in TABLE_KEYS if k in summary[strategies[0]]],
        "paired_rows": _paired_rows(r["paired"], paired_keys),
        "paired_keys": paired_keys,
        "reference_rows": _paired_rows(vs_reference or {}, paired_keys),
        "variant_rows": _variant_rows(r.get("variants") or {}),
        "variant_realism": VARIANT_REALISM,
        "sample_grids": sample_grids,
        "verdict": verdict_html(r),
    }


def verdict_html(r: dict[str, Any]) -> Markup:
    """The verdict sentence(s) of ``lesiongan report --markdown``, as HTML: `code` spans and
    ``- `` list lines (results aggregated with calls give a line per endpoint)."""
    if r.get("calls") is not None:
        text = verdict_calls.render_imbalance_sentence(r)
        if r.get("finetune"):  # the fine-tuned cells, a family of their own
            text += "\n" + verdict_calls.render_finetune_sentence(r)
    else:
        text = render_verdict_sentence(r)
    paras, items = [], []
    for line in text.splitlines():
        html = re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(line)))
        if line.startswith("- "):
            items.append(f"<li>{html[2:]}</li>")
        elif line.strip():
            paras.append(f"<p>{html}</p>")
    lists = f"<ul>{''.join(items)}</ul>" if items else ""
    return Markup("".join(paras) + lists)


def _paired_rows(paired: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    return [
        {"strategy": s, "cells": [{"key": k, **d[k]} for k in keys if k in d]}
        for s, d in paired.items()
    ]


VARIANT_REALISM = tuple((k, registry.label(k)) for k in registry.keys_in("table"))


def _variant_rows(variants: dict[str, Any]) -> list[dict[str, Any]]:
    """Per synthetic variant: selection, realism with its real-vs-real floor, CAS."""
    rows = []
    for name, v in variants.items():
        realism = v.get("realism") or {}
        rows.append(
            {
                "name": name,
                "select": v.get("select") or "none",
                "keep": v.get("keep"),
                "features": realism.get("features"),
                "features_id": realism.get("features_id"),
                "features_px": _px(realism.get("features_id")),
                "realism": [
                    {"key": k, "value": realism.get(k), "floor": realism.get(f"{k}_floor")}
                    for k, _ in VARIANT_REALISM
                ],
                "cas": v.get("cas") or {},
            }
        )
    return rows


def _px(features_id: str | None) -> int | None:
    """The input size a features id names (``...:64px:1v`` -> 64), if it names one."""
    m = re.search(r":(\d+)px(?::|$)", features_id or "")
    return int(m[1]) if m else None


def _resolve(exp_dir: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else exp_dir / path


def _sample_sets(exp_dir: Path, r: dict[str, Any]) -> dict[str, Path]:
    """Synthetic set name -> directory: each variant's, or the one set (named ``synthetic``)."""
    variants = r.get("variant_dirs") or {}
    if variants:
        return {name: _resolve(exp_dir, v["dir"]) for name, v in variants.items()}
    syn = r.get("synthetic") or {}
    return {"synthetic": _resolve(exp_dir, syn["dir"])} if syn.get("dir") else {}


def _samples(exp_dir: Path, r: dict[str, Any], classes: list[str], n: int = 8) -> dict[str, bytes]:
    """Per synthetic set, one grid: a row per class, real training images on the left,
    that set's images on the right (sets without a readable manifest are left out)."""
    try:
        ds = load_dataset(Path(r["dataset"]["path"]), check_files=False)
    except LesionganError:
        return {}
    real = {
        c: [ds.image_path(x) for x in ds.split_rows("train") if x.label == c][:n] for c in classes
    }
    grids = {}
    for name, syn_dir in _sample_sets(exp_dir, r).items():
        manifest = syn_dir / "manifest.csv"
        if not manifest.is_file():
            continue
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        syn = {c: [syn_dir / x["path"] for x in rows if x["label"] == c][:n] for c in classes}
        grids[name] = figures.sample_grid(real, syn)
    return grids


def _scarcity(r: dict[str, Any], figs: dict[str, bytes | None]) -> dict[str, Any]:
    keys = ["balanced_accuracy"] + [f"sensitivity_{c}" for c in r["classes"] if c == "melanoma"]
    if r.get("per_fraction"):  # threshold-free endpoints first (the verdict's primary ones)
        keys = [k for k in PRIMARY if k in r["curve"][0]]
        keys.append("balanced_accuracy")
        figs["scarcity_delta"] = figures.delta_vs_fraction(r["per_fraction"], keys[:3])
    figs["scarcity"] = figures.scarcity_plot(r["curve"], keys)
    return {"curve_keys": keys}


def _audit(exp_dir: Path) -> list[dict[str, Any]]:
    out = []
    for kind, keys in AUDIT_KEYS.items():
        path = exp_dir / "audit" / kind / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        pngs = sorted((exp_dir / "audit" / kind).glob("*.png"))[:6]
        out.append(
            {
                "kind": kind,
                "rows": [(k, m[k]) for k in keys if k in m],
                "table": _structures_table(m) if kind == "structures" else None,
                "images": [(p.name, _uri(p.read_bytes())) for p in pngs],
            }
        )
    return out


def _structures_table(m: dict[str, Any]) -> dict[str, Any]:
    """The prevalence table: real and synthetic rows, one column per structure."""
    rows = []
    for side in ("real", "synthetic"):
        cells = []
        for s in STRUCTURES:
            k = f"prevalence_{s}_{side}"
            cells.append(f"{fmt(m.get(k), 2)} [{fmt(m.get(f'{k}_ci_low'), 2)}, "
                         f"{fmt(m.get(f'{k}_ci_high'), 2)}]")  # fmt: skip
        rows.append([f"{side} (n={m.get(f'n_{side}')})", *cells])
    det = [
        f"{fmt(m.get(f'detector_{s}_precision'), 2)} / {fmt(m.get(f'detector_{s}_recall'), 2)}"
        for s in STRUCTURES
    ]
    rows.append([f"detector precision / recall ({m.get('probe_size_px')} px)", *det])
    return {"header": ["images", *STRUCTURES], "rows": rows}


def _turing(exp_dir: Path) -> dict[str, Any] | None:
    path = exp_dir / "turing" / "results.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    scalars = [
        (k, v)
        for k, v in data.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]
    pngs = sorted((exp_dir / "turing").glob("*.png"))[:4]
    return {"rows": scalars[:20], "images": [(p.name, _uri(p.read_bytes())) for p in pngs]}
