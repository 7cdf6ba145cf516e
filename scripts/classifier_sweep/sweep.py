"""A classifier sweep: settings x seeds of ``classify train`` on one dataset, decided on the
validation split (carved from train; never the test split).

A sweep file (YAML) names the dataset, the base config, the settings (overrides of the base)
and the seeds; each run goes to ``--runs/<setting>/s<seed>``. Results go beside the sweep file
as ``<name>.json`` (every run, and per setting the mean over seeds with a 95 % t-interval) and
``<name>.csv``. ``--test`` also records the test split's metrics (for the chosen settings only:
the targets), else only validation metrics are read.

    python scripts/classifier_sweep/sweep.py docs/results/classifier-sweep/cached-isic128.yaml \
        --runs /work/runs/h2-sweep
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.run import run_classify
from lesiongan.config import load_config
from lesiongan.recipes import resolve_recipe

VAL_KEYS = ("val_melanoma_auc", "val_keratosis_auc", "val_macro_auc", "val_balanced_accuracy")
TEST_KEYS = ("melanoma_auc", "keratosis_auc", "macro_auc", "balanced_accuracy")


def summarize(values: list[float]) -> dict[str, float | None]:
    """Mean over seeds and its 95 % t-interval (None with one seed)."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(x.mean())
    if x.size < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": 1}
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": int(x.size)}


def run_sweep(
    spec_path: Path,
    runs: Path,
    with_test: bool,
    only: list[str] | None,
    seeds: list[int] | None = None,
) -> Path:
    spec = yaml.safe_load(spec_path.read_text())
    name = spec_path.stem
    runs_name = spec.get("runs_as", name)  # share run directories with another sweep
    results_path = spec_path.with_suffix(".json")
    old = json.loads(results_path.read_text()) if results_path.is_file() else {"runs": []}
    done = {(r["setting"], r["seed"]): r for r in old["runs"]}
    rows = []
    for setting, overrides in spec["settings"].items():
        for seed in spec["seeds"]:
            if (only and setting not in only) or (seeds and seed not in seeds):
                if (setting, seed) in done:
                    rows.append(done[(setting, seed)])
                continue
            sets = {**spec.get("base", {}), **(overrides or {}), "seed": seed}
            recipe = sets.pop("config_recipe", None)  # a bundled recipe under the overrides
            cfg = load_config(ClassifyConfig, resolve_recipe(recipe) if recipe else None, sets)
            t0 = time.perf_counter()
            res = run_classify(
                Path(spec["dataset"]), runs / runs_name / setting / f"s{seed}", cfg, workers=1
            )
            m = res.metrics or {}
            row: dict[str, Any] = {"setting": setting, "seed": seed, "path": m.get("path")}
            row.update({k: m.get(k) for k in VAL_KEYS})
            if with_test:
                row.update({k: m.get(k) for k in TEST_KEYS})
                row.update({f"{k}_ci_low": m.get(f"{k}_ci_low") for k in TEST_KEYS})
                row.update({f"{k}_ci_high": m.get(f"{k}_ci_high") for k in TEST_KEYS})
            row["best_epoch"] = m.get("best_epoch")
            row["seconds"] = round(time.perf_counter() - t0, 1)
            if res.reused:  # trained earlier: its epochs' time (without loading and testing)
                history = (res.run_dir / "history.jsonl").read_text().splitlines()
                row["seconds"] = round(sum(json.loads(h)["seconds"] for h in history), 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    keys = VAL_KEYS + (TEST_KEYS if with_test else ())
    summary = {}
    for setting in spec["settings"]:
        mine = [r for r in rows if r["setting"] == setting]
        if mine:
            summary[setting] = {k: summarize([r.get(k) for r in mine]) for k in keys}
            summary[setting]["seconds_mean"] = float(np.mean([r["seconds"] or 0 for r in mine]))
    out = {
        "sweep": name,
        "dataset": spec["dataset"],
        "base": spec.get("base", {}),
        "settings": spec["settings"],
        "seeds": spec["seeds"],
        "decided_on": "validation split carved from train (val_* keys)",
        "command": f"python scripts/classifier_sweep/sweep.py {spec_path}"
        + (" --test" if with_test else ""),
        "summary": summary,
        "runs": rows,
    }
    results_path.write_text(json.dumps(out, indent=2) + "\n")
    with open(spec_path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return results_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", type=Path)
    ap.add_argument("--runs", type=Path, default=Path("/work/runs/h2-sweep"))
    ap.add_argument("--test", action="store_true", help="also record test metrics (targets)")
    ap.add_argument("--only", nargs="*", help="run these settings only (keep the others)")
    ap.add_argument("--seeds", nargs="*", type=int, help="run these seeds only (keep the others)")
    args = ap.parse_args()
    print(run_sweep(args.spec, args.runs, args.test, args.only, args.seeds))


if __name__ == "__main__":
    main()
