"""A scarcity experiment's aggregation: per fraction the summaries (the curve), the reference
chosen on validation and every cell's difference from it, calls over every fraction's synthetic
cells together; and its ``results.json`` / ``results.csv``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lesiongan.experiments.aggregate import summary_keys
from lesiongan.experiments.config import ScarcityConfig
from lesiongan.experiments.records import RunRecord
from lesiongan.experiments.results import CALL_ENDPOINTS, aggregate_records, statistics_note
from lesiongan.experiments.stats import verdict_calls
from lesiongan.utils.outdir import write_text_atomic


def aggregate_scarcity(
    cfg: ScarcityConfig, by_fraction: dict[float, tuple[int, list[RunRecord]]], classes: list[str]
) -> dict[str, Any]:
    """Per fraction: summaries (the curve), the reference chosen on validation and every cell's
    difference from it; calls Holm-corrected over every fraction's synthetic (``@gan``) cells
    together (the oracle cells are the ceiling, not claims)."""
    curve, per_fraction, family = [], {}, {}
    for f, (n_train, records) in sorted(by_fraction.items()):
        tag = f"frac-{f:g}"
        agg = aggregate_records(cfg, records, classes, calls=False)
        for strategy, keys in agg["summary"].items():
            curve.append({"fraction": f, "n_train": n_train, "strategy": strategy, **keys})
        per_fraction[tag] = {
            "fraction": f,
            "n_train": n_train,
            "reference": agg.get("reference"),
            "reference_chosen_by": agg.get("reference_chosen_by"),
            "validation": agg["validation"],
            "paired_vs_reference": agg.get("paired_vs_reference", {}),
        }
        for s, d in agg.get("paired_vs_reference", {}).items():
            if "@gan" in s:
                family[f"{tag}/{s}"] = d
    return {
        "curve": curve,
        "per_fraction": per_fraction,
        "calls": verdict_calls(family, list(CALL_ENDPOINTS), cfg.alpha),
        "statistics": statistics_note(cfg, len(family)),
    }


def write_scarcity_results(out: Path, results: dict[str, Any], classes: list[str]) -> None:
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["fraction", "n_train", "strategy", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    )
    for p in results["curve"]:
        for k in summary_keys(classes):
            s = p[k]
            w.writerow(
                [
                    p["fraction"],
                    p["n_train"],
                    p["strategy"],
                    k,
                    s["mean"],
                    s["ci_low"],
                    s["ci_high"],
                    s["n"],
                ]
            )
    write_text_atomic(out / "results.csv", buf.getvalue())
