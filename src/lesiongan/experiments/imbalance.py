"""``lesiongan experiment imbalance``: the poster's experiment.

For a prepared dataset: train the class-conditional GAN on the train split (or reuse a run),
sample synthetic minority images, train a classifier per strategy x seed, aggregate (intervals
over seeds, paired differences against ``none``) and write ``results.json``, ``results.csv`` and
``report.html``. The experiment directory is filled stage by stage: re-running the command skips
finished stages and cells and resumes interrupted ones.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lesiongan.config import load_config, save_config
from lesiongan.data.manifest import PreparedDataset, load_dataset
from lesiongan.errors import ConfigError
from lesiongan.experiments.aggregate import paired_differences, read_test_predictions, summarize
from lesiongan.experiments.cells import Cell, run_cells
from lesiongan.experiments.config import ExperimentBase, ImbalanceConfig
from lesiongan.experiments.stages import (
    StageFn,
    balance_counts,
    ensure_gan,
    ensure_sample,
    no_progress,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.sample import SampleConfig
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import DONE, open_stage, write_status

CellFn = Callable[[str, str, float, int, int], None]
BASELINE = "none"


def open_experiment(
    out: Path, cfg: ExperimentBase, inputs: list[Path], kind: str, force: bool
) -> None:
    """Create the experiment directory, or check that an existing one ran this config.

    An experiment directory is filled cell by cell (not atomically); re-running it continues
    (finished cells are reused, interrupted ones resume) and re-aggregates.
    """
    out = Path(out)
    stage = open_stage(out, cfg, inputs, force=force, resumable=True)
    if not stage.is_new:
        write_status(out, "running")
        return
    if out.exists():  # --force: start again
        shutil.rmtree(out)
    out.mkdir(parents=True)
    save_config(cfg, out / "config.yaml")
    save_provenance(
        out, f"experiment {kind}", {"dataset": {"path": str(Path(cfg.dataset).resolve())}}
    )
    write_status(out, "running")


def prepare_synthetic(
    dataset: Path, out: Path, cfg: ExperimentBase, force: bool, stage: StageFn
) -> tuple[Path, Path | None, dict[str, Any]]:
    """The synthetic directory for the cells (reused, or GAN trained/reused and sampled here)."""
    info: dict[str, Any] = {}
    if cfg.sample.synthetic:
        gan = Path(cfg.gan.run) if cfg.gan.run else None  # for the report's GAN curves
        return Path(cfg.sample.synthetic), gan, _synthetic_info(Path(cfg.sample.synthetic))
    if cfg.gan.run:
        gan_run = Path(cfg.gan.run)
        info["reused_gan"] = str(gan_run)
    else:
        gan_run = out / "gan"
        gan_cfg = load_config(GanConfig, resolve_recipe(cfg.gan.config), cfg.gan.set)
        info["gan_reused"] = ensure_gan(dataset, gan_run, gan_cfg, force, stage)
    counts = load_dataset(dataset).info["counts"]["train"]
    per_class = (
        balance_counts(counts) if cfg.sample.per_class == "balance" else cfg.sample.per_class
    )
    if not per_class:
        raise ConfigError(f"{dataset}: the train split is already balanced; set sample.per_class")
    sample_cfg = SampleConfig(per_class=per_class, seed=cfg.sample.seed)
    info["sample_reused"] = ensure_sample(gan_run, out / "synthetic", sample_cfg, force, stage)
    info["per_class"] = per_class
    return out / "synthetic", gan_run, info


def _synthetic_info(path: Path) -> dict[str, Any]:
    info_path = path / "synthetic.json"
    try:
        counts = json.loads(info_path.read_text()).get("counts") if info_path.is_file() else None
    except ValueError:
        counts = None
    return {"reused": True, "per_class": counts}


def build_cells(
    cfg: ExperimentBase, dataset: Path, runs: Path, synthetic: Path | None
) -> list[Cell]:
    return [
        Cell(
            f"{strategy}/seed-{seed}",
            dataset,
            runs / strategy / f"seed-{seed}",
            cfg.classify_config(strategy, seed),
            synthetic,
        )
        for strategy in cfg.strategies
        for seed in cfg.seeds
    ]


def aggregate(
    cfg: ExperimentBase, cells: list[Cell], metrics: dict[str, dict[str, Any]], classes: list[str]
) -> dict[str, Any]:
    by_strategy: dict[str, dict[int, dict[str, Any]]] = {}
    preds: dict[str, dict[int, Any]] = {}
    for cell in cells:
        strategy, seed = cell.key.split("/")[0], cell.config.seed
        by_strategy.setdefault(strategy, {})[seed] = metrics[cell.key]
        preds.setdefault(strategy, {})[seed] = read_test_predictions(cell.out, classes)
    paired = {}
    if BASELINE in preds:
        for strategy in by_strategy:
            if strategy != BASELINE:
                paired[strategy] = paired_differences(
                    preds[BASELINE], preds[strategy], classes, cfg.bootstrap
                )
    return {"summary": summarize(by_strategy, classes), "paired": paired}


def dataset_summary(path: Path, ds: PreparedDataset) -> dict[str, Any]:
    """What the report shows about the dataset: where, counts per split, image size."""
    return {
        "path": str(path.resolve()),
        "counts": ds.info["counts"],
        "image_size": ds.info.get("image_size"),
    }


def run_imbalance(
    cfg: ImbalanceConfig,
    out: Path,
    force: bool = False,
    stage: StageFn = no_progress,
    on_cell: CellFn | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    out, dataset = Path(out), Path(cfg.dataset)
    ds = load_dataset(dataset)
    open_experiment(out, cfg, [dataset], "imbalance", force)
    synthetic, gan_run, syn_info = prepare_synthetic(dataset, out, cfg, force, stage)
    cells = build_cells(cfg, dataset, out / "runs", synthetic)
    metrics = run_cells(cells, cfg.workers, force, on_cell)
    classes = list(ds.classes)
    results = {
        "experiment": "imbalance",
        "classes": classes,
        "dataset": dataset_summary(dataset, ds),
        "strategies": cfg.strategies,
        "seeds": cfg.seeds,
        "baseline": BASELINE,
        "synthetic": {"dir": relative_path(synthetic, out), **syn_info},
        "gan_run": relative_path(gan_run, out) if gan_run else None,
        "runs": {
            c.key: {
                "dir": relative_path(c.out, out),
                "strategy": c.config.strategy,
                "seed": c.config.seed,
                "metrics": metrics[c.key],
            }
            for c in cells
        },
        **aggregate(cfg, cells, metrics, classes),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_results(out, results)
    from lesiongan.experiments.report import build_report

    build_report(out)
    write_status(out, DONE)
    return results


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (results stay valid if ``root`` moves)."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def write_results(out: Path, results: dict[str, Any]) -> None:
    """``results.json`` (everything) and ``results.csv`` (one row per strategy and metric)."""
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "strategy",
            "metric",
            "mean",
            "ci_low",
            "ci_high",
            "n_seeds",
            "diff_vs_none",
            "diff_ci_low",
            "diff_ci_high",
            "p_not_better",
        ]
    )
    for strategy, keys in results["summary"].items():
        for key, s in keys.items():
            d = results["paired"].get(strategy, {}).get(key, {})
            w.writerow(
                [
                    strategy,
                    key,
                    _fmt(s["mean"]),
                    _fmt(s["ci_low"]),
                    _fmt(s["ci_high"]),
                    s["n"],
                    _fmt(d.get("diff")),
                    _fmt(d.get("ci_low")),
                    _fmt(d.get("ci_high")),
                    _fmt(d.get("p_not_better")),
                ]
            )
    write_text_atomic(out / "results.csv", buf.getvalue())


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"
