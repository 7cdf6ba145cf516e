"""The "Baselines on real ISIC 2017" table, rendered from committed results files only.

A table spec (``docs/results/classifier-sweep/baselines.yaml``) lists the rows; each row names
where its numbers come from (paths relative to the repository root):

- ``experiment: FILE`` + ``strategy``: an experiment's ``results.json`` (mean over seeds of
  the test metrics, with its 95 % interval);
- ``sweep: FILE`` + ``setting`` + ``split`` (``test`` or ``validation``): a classifier sweep's
  results (``scripts/classifier_sweep/sweep.py``), mean over seeds with its 95 % t-interval;
- ``unfinished: FILE``: a sweep's ``-progress.json``: no metric, how far its runs got;
- ``published: {melanoma_auc, keratosis_auc}`` with ``source``: literature, for scale.

``render_baselines_markdown`` is what the docs pages show between ``<!-- baselines:NAME -->``
markers (``brief=True``: the rows marked ``brief``, fewer columns, between
``<!-- baselines-brief:NAME -->``); a test checks that they hold exactly it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lesiongan.errors import DataError
from lesiongan.experiments.verdict_format import DASH, interval

KEYS = ("melanoma_auc", "keratosis_auc")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: no such results file (named by the baselines table)")
    return json.loads(path.read_text(encoding="utf-8"))


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _experiment_cells(row: dict[str, Any], path: Path) -> dict[str, str]:
    r = _read_json(path)
    summary = r["summary"].get(row["strategy"])
    if summary is None:
        raise DataError(f"{path}: no strategy {row['strategy']!r}")
    return {
        **{k: interval(summary[k]) for k in KEYS},
        "seeds": str(summary[KEYS[0]]["n"]),
        "cost": DASH,
    }


def _sweep_cells(row: dict[str, Any], path: Path) -> dict[str, str]:
    r = _read_json(path)
    summary = r["summary"].get(row["setting"])
    if summary is None:
        raise DataError(f"{path}: no setting {row['setting']!r}")
    prefix = {"test": "", "validation": "val_"}[row["split"]]
    for k in KEYS:
        if prefix + k not in summary:
            raise DataError(f"{path}: no {prefix + k} (was the sweep run with --test?)")
    return {
        **{k: interval(summary[prefix + k]) for k in KEYS},
        "seeds": str(summary[prefix + KEYS[0]]["n"]),
        "cost": _minutes(summary["seconds_mean"]) + " per run",
    }


def _unfinished_cells(path: Path) -> dict[str, str]:
    r = _read_json(path)
    runs = r["runs"]
    started = [x for x in runs if x.get("epochs_done")]
    full = [s for x in started for s in x["epoch_seconds"][1:]]  # after the head-only epoch
    most = max(started, key=lambda x: x["epochs_done"])
    hours = sum(most["epoch_seconds"]) / 3600
    cost = f"{most['epochs_done']} of {most['epochs']} epochs in {hours:.1f} h"
    if full:
        cost += f"; a full epoch {min(full) / 60:.0f}–{max(full) / 60:.0f} min"
    return {
        **{k: "not finished" for k in KEYS},
        "seeds": f"0 of {len(runs)}",
        "cost": cost,
    }


def baseline_rows(spec_path: Path, root: Path, brief: bool = False) -> list[dict[str, str]]:
    """One dict per row of the spec: label, judged_on, the two AUCs, seeds, cost, source."""
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    out = []
    for row in spec["rows"]:
        if brief and not row.get("brief"):
            continue
        if "experiment" in row:
            cells = _experiment_cells(row, root / row["experiment"])
            source = f"`{row['experiment']}`"
        elif "sweep" in row:
            cells = _sweep_cells(row, root / row["sweep"])
            source = f"`{row['sweep']}`"
        elif "unfinished" in row:
            cells = _unfinished_cells(root / row["unfinished"])
            source = f"`{row['unfinished']}`"
        elif "published" in row:
            pub = row["published"]
            cells = {k: pub.get(k) or DASH for k in KEYS} | {"seeds": DASH, "cost": DASH}
            cells = {k: f"{v:.3f}" if isinstance(v, float) else v for k, v in cells.items()}
            source = row["source"]
        else:
            raise DataError(f"{spec_path}: row {row.get('label')!r} names no results")
        out.append({"label": row["label"], "judged_on": row["judged_on"], **cells, "from": source})
    return out


def render_baselines_markdown(spec_path: Path, root: Path, brief: bool = False) -> str:
    """The table (all rows and columns, or ``brief``: the marked rows, four columns); the
    spec's paths are relative to ``root``."""
    rows = baseline_rows(spec_path, root, brief)
    if brief:
        head = ["classifier", "judged on", "melanoma AUC", "keratosis AUC"]
        keys = ["label", "judged_on", *KEYS]
    else:
        head = ["classifier", "judged on", "melanoma AUC", "keratosis AUC", "seeds", "cost here"]
        head.append("from")
        keys = ["label", "judged_on", *KEYS, "seeds", "cost", "from"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines)
