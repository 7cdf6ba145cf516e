"""Exported results: what a paper's repository commits, and re-deriving every number from it.

``export_results(EXP_DIR, DEST)`` writes DEST with:

- ``results.json`` / ``results.csv``: the experiment's aggregated results;
- ``experiment-config.yaml``: the config that produced them;
- ``runs.json``: every classifier run (strategy, generator, seed, ``metrics.json``) and its
  predictions file, plus the dataset fingerprint, every GAN's checkpoint sha256 and the code
  revision (``inputs``);
- ``predictions/<run>.csv.gz``: each run's validation and test predictions;
- ``figures/``: the report's figures;
- ``provenance.json``: what wrote DEST (so that ``--export DEST --force`` may replace it).

:func:`rederive` recomputes the aggregated part of ``results.json`` (summaries, validation
metrics, the reference, every paired interval, the calls, CAS) from ``runs.json`` and the
predictions alone; ``lesiongan report DEST --check`` says whether it equals the committed file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lesiongan.config import load_config
from lesiongan.errors import LesionganError
from lesiongan.experiments.records import (
    RunRecord,
    by_strategy,
    export_predictions,
    records_from_export,
)
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.stage import begin_stage

RUNS = "runs.json"
CONFIG = "experiment-config.yaml"
# the parts of results.json that are a pure function of the runs (what rederive recomputes)
DERIVED = ("summary", "validation", "paired", "reference", "paired_vs_reference", "calls")


def _records(exp_dir: Path, results: dict[str, Any]) -> list[RunRecord]:
    out = []
    for key, r in results["runs"].items():
        strategy = key.split("/")[1] if results["experiment"] == "scarcity" else key.split("/")[0]
        out.append(
            RunRecord(
                key=key,
                strategy=strategy,
                generator=r.get("generator", ""),
                seed=int(r["seed"]),
                metrics=r["metrics"],
                predictions=exp_dir / r["dir"] / "predictions.csv",
            )
        )
    return out


def export_results(exp_dir: Path, dest: Path, force: bool = False) -> Path:
    """Write the exported results of a finished experiment directory (see the module doc)."""
    exp_dir, dest = Path(exp_dir), Path(dest)
    path = exp_dir / "results.json"
    if not path.is_file():
        raise LesionganError(f"{path}: missing; the experiment has not finished")
    results = json.loads(path.read_text())
    records = _records(exp_dir, results)
    # a copy of what is there now: an existing DEST is replaced only with --force
    stage = begin_stage(dest, None, [exp_dir], name="experiment export", force=force, reuse=False)
    with stage.write() as tmp:
        files = export_predictions(records, tmp / "predictions")
        runs = {
            r.key: {
                "strategy": r.strategy,
                "generator": r.generator,
                "seed": r.seed,
                "metrics": r.metrics,
                "predictions": files[r.key],
            }
            for r in records
        }
        inputs = {
            "dataset_fingerprint": (results.get("dataset") or {}).get("fingerprint"),
            "generators": results.get("generators"),
            "code_revision": results.get("code_revision"),
        }
        write_text_atomic(tmp / RUNS, json.dumps({"inputs": inputs, "runs": runs}, indent=1) + "\n")
        for name in ("results.json", "results.csv"):
            shutil.copyfile(exp_dir / name, tmp / name)
        shutil.copyfile(exp_dir / "config.yaml", tmp / CONFIG)
        if (exp_dir / "figures").is_dir():
            shutil.copytree(exp_dir / "figures", tmp / "figures")
        # provenance marks DEST as lesiongan's own, so that a later --export --force replaces it
        stage.provenance = {"experiment": str(exp_dir.resolve())}
    return dest


def rederive(root: Path) -> dict[str, Any]:
    """``results.json`` with its derived parts recomputed from ``runs.json`` + predictions."""
    from lesiongan.experiments.kinds import get_kind
    from lesiongan.experiments.results import aggregate_records, cas_entries

    root = Path(root)
    for name in (RUNS, CONFIG, "results.json"):
        if not (root / name).is_file():
            raise LesionganError(f"{root / name}: missing; not an exported results directory")
    results = json.loads((root / "results.json").read_text())
    kind = get_kind(results["experiment"])
    cfg = load_config(kind.config, root / CONFIG)
    records = records_from_export(root)
    classes = results["classes"]
    new = dict(results)
    if results["experiment"] == "imbalance":
        new.update(aggregate_records(cfg, records, classes))  # type: ignore[arg-type]
        for name, entry in (new.get("variants") or {}).items():
            entry.update(cas_entries(cfg, records, name, new.get("reference") or "none"))
        return new
    if results["experiment"] == "scarcity":
        from lesiongan.experiments.scarcity_results import aggregate_scarcity

        n_train = {p["fraction"]: p["n_train"] for p in results["per_fraction"].values()}
        by_fraction: dict[float, tuple[int, list[RunRecord]]] = {}
        for r in records:
            tag, _, rest = r.key.partition("/")
            f = float(tag.removeprefix("frac-"))
            r.key, r.strategy = rest, rest.split("/")[0]
            by_fraction.setdefault(f, (n_train[f], []))[1].append(r)
        new.update(aggregate_scarcity(cfg, by_fraction, classes))  # type: ignore[arg-type]
        return new
    raise LesionganError(
        f"{root}: re-deriving a {results['experiment']} experiment is not supported"
    )


def check(root: Path) -> list[str]:
    """The derived keys whose recomputed value differs from the committed ``results.json``."""
    committed = json.loads((Path(root) / "results.json").read_text())
    again = json.loads(json.dumps(rederive(root)))
    keys = [*DERIVED, "variants", "statistics", "curve", "per_fraction"]
    return [k for k in keys if committed.get(k) != again.get(k)]


__all__ = ["by_strategy", "check", "export_results", "rederive"]
