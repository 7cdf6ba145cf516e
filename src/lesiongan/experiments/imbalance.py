"""``lesiongan experiment imbalance``: the poster's experiment.

For a prepared dataset: train the class-conditional GAN on the train split (or reuse a run),
sample synthetic minority images, train a classifier per strategy x seed, aggregate (intervals
over seeds, paired differences against ``none``) and write ``results.json``, ``results.csv`` and
``report.html``. The experiment directory is filled stage by stage: re-running the command skips
finished stages and cells and resumes interrupted ones.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lesiongan.config import load_config, save_config
from lesiongan.data.manifest import PreparedDataset, load_dataset
from lesiongan.data.synthetic import read_info
from lesiongan.errors import ConfigError, LesionganError
from lesiongan.experiments.aggregate import (
    classification_accuracy_score,
    compare_strategies,
    read_test_predictions,
    summarize,
)
from lesiongan.experiments.cells import Cell, run_cells
from lesiongan.experiments.config import (
    ExperimentBase,
    ImbalanceConfig,
    VariantConfig,
    uses_synthetic,
)
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
from lesiongan.utils.stage import DONE, open_stage, read_status, write_status

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
    stage = open_stage(out, cfg, inputs, force=force, resumable=True, may_change=("launcher",))
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


def experiment_gan(
    dataset: Path, out: Path, cfg: ExperimentBase, force: bool, stage: StageFn
) -> tuple[Path, dict[str, Any]]:
    """The experiment's GAN run: reused (``gan.run``), or trained / resumed / reused here."""
    if cfg.gan.run:
        return Path(cfg.gan.run), {"reused_gan": str(cfg.gan.run)}
    gan_run = out / "gan"
    gan_cfg = load_config(GanConfig, resolve_recipe(cfg.gan.config), cfg.gan.set)
    return gan_run, {"gan_reused": ensure_gan(dataset, gan_run, gan_cfg, force, stage)}


def require_finished_gan(run: Path) -> None:
    """A reused GAN run (``gan.run``) must have finished its schedule before it is sampled."""
    state = read_status(run).get("state")
    if state != DONE:
        raise LesionganError(
            f"{run}: the GAN run is not finished (status {state or 'missing'}); finish it with "
            "'lesiongan gan train ... --resume', then run the experiment again (finished "
            "classifier runs are kept)"
        )


def sample_counts(dataset: Path, cfg: ExperimentBase, every_class: bool = False) -> dict[str, int]:
    """Images to sample per class: ``balance`` fills every class up to the largest.

    ``every_class`` (CAS trains on synthetic images alone, so it needs every class): a class
    that needs none for balance gets as many as the class that needs the most.
    """
    counts = load_dataset(dataset).info["counts"]["train"]
    per_class = (
        balance_counts(counts) if cfg.sample.per_class == "balance" else cfg.sample.per_class
    )
    if not per_class:
        raise ConfigError(f"{dataset}: the train split is already balanced; set sample.per_class")
    if every_class:
        most = max(per_class.values())
        per_class = {c: per_class.get(c, most) for c in counts}
    return per_class


def prepare_synthetic(
    dataset: Path, out: Path, cfg: ExperimentBase, force: bool, stage: StageFn
) -> tuple[Path, Path | None, dict[str, Any]]:
    """The one synthetic directory of an experiment without variants (reused or sampled)."""
    if cfg.sample.synthetic:
        gan = Path(cfg.gan.run) if cfg.gan.run else None  # for the report's GAN curves
        return Path(cfg.sample.synthetic), gan, _synthetic_info(Path(cfg.sample.synthetic))
    gan_run, info = experiment_gan(dataset, out, cfg, force, stage)
    require_finished_gan(gan_run)
    per_class = sample_counts(dataset, cfg)
    sample_cfg = SampleConfig(per_class=per_class, seed=cfg.sample.seed)
    info["sample_reused"] = ensure_sample(gan_run, out / "synthetic", sample_cfg, force, stage)
    info["per_class"] = per_class
    return out / "synthetic", gan_run, info


def _synthetic_info(path: Path) -> dict[str, Any]:
    counts = read_info(path).get("counts") if path.is_dir() else None
    return {"reused": True, "per_class": counts}


def build_cells(
    cfg: ExperimentBase,
    dataset: Path,
    runs: Path,
    synthetic: Path | None,
    strategies: list[str] | None = None,
    variant: str = "",
) -> list[Cell]:
    """One cell per strategy x seed; with ``variant``, run names are ``STRATEGY@VARIANT``."""
    cells = []
    for strategy in strategies if strategies is not None else cfg.strategies:
        name = f"{strategy}@{variant}" if variant else strategy
        for seed in cfg.seeds:
            cells.append(
                Cell(
                    f"{name}/seed-{seed}",
                    dataset,
                    runs / name / f"seed-{seed}",
                    cfg.classify_config(strategy, seed),
                    synthetic,
                )
            )
    return cells


def aggregate(
    cfg: ExperimentBase,
    cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    classes: list[str],
    real_only: list[str] | None = None,
) -> dict[str, Any]:
    """Summaries over seeds, paired differences against ``none`` and against the reference."""
    by_strategy: dict[str, dict[int, dict[str, Any]]] = {}
    preds: dict[str, dict[int, Any]] = {}
    for cell in cells:
        strategy, seed = cell.key.split("/")[0], cell.config.seed
        by_strategy.setdefault(strategy, {})[seed] = metrics[cell.key]
        preds.setdefault(strategy, {})[seed] = read_test_predictions(cell.out, classes)
    summary = summarize(by_strategy, classes)
    out: dict[str, Any] = {"summary": summary, "paired": {}}
    if BASELINE in preds:
        out["paired"] = compare_strategies(preds, BASELINE, classes, cfg.bootstrap)
    real_only = [s for s in (real_only or []) if s in preds]
    if real_only:
        ref = getattr(cfg, "reference", "best")
        if ref == "best":
            ref = max(real_only, key=lambda s: summary[s]["balanced_accuracy"]["mean"] or 0.0)
        out["reference"] = ref
        out["paired_vs_reference"] = (
            out["paired"]
            if ref == BASELINE
            else compare_strategies(preds, ref, classes, cfg.bootstrap)
        )
    return out


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
    load_dataset(dataset)  # a bad dataset fails before anything is written
    open_experiment(out, cfg, [dataset], "imbalance", force)
    if cfg.variants:
        cells, metrics, syn_part = _run_variants(cfg, dataset, out, force, stage, on_cell)
    else:
        synthetic, gan_run, syn_info = prepare_synthetic(dataset, out, cfg, force, stage)
        cells = build_cells(cfg, dataset, out / "runs", synthetic)
        metrics = run_cells(cells, cfg.workers, force, on_cell)
        syn_part = {
            "synthetic": {"dir": relative_path(synthetic, out), **syn_info},
            "gan_run": relative_path(gan_run, out) if gan_run else None,
        }
    return finish_imbalance(cfg, out, cells, metrics, syn_part, time.perf_counter() - start)


def finish_imbalance(
    cfg: ImbalanceConfig,
    out: Path,
    cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    syn_part: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """Aggregate finished cells: ``results.json``, ``results.csv``, ``report.html``, done.

    The one aggregation of both launchers (local, after its pool; slurm, after the jobs).
    """
    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    results = {
        "experiment": "imbalance",
        "classes": classes,
        "dataset": dataset_summary(dataset, ds),
        "strategies": list(dict.fromkeys(c.key.split("/")[0] for c in cells)),
        "real_only_strategies": real_only,
        "seeds": cfg.seeds,
        "baseline": BASELINE,
        **syn_part,
        "runs": {
            c.key: {
                "dir": relative_path(c.out, out),
                "strategy": c.config.strategy,
                "seed": c.config.seed,
                "metrics": metrics[c.key],
            }
            for c in cells
        },
        **aggregate(cfg, cells, metrics, classes, real_only),
        "seconds": round(seconds, 1),
    }
    if cfg.variants:
        results["variants"] = _variant_results(cfg, out, results)
    write_results(out, results)
    from lesiongan.experiments.report import build_report

    build_report(out)
    write_status(out, DONE)
    return results


def _run_variants(
    cfg: ImbalanceConfig, dataset: Path, out: Path, force: bool, stage: StageFn, on_cell
) -> tuple[list[Cell], dict[str, dict[str, Any]], dict[str, Any]]:
    """GAN -> real-only cells -> each variant's sample (selection may use a real-only run) ->
    its audit -> the cells that use synthetic images (and synthetic-only for CAS)."""
    gan_run, gan_info = experiment_gan(dataset, out, cfg, force, stage)
    runs = out / "runs"
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    with_syn = [s for s in cfg.strategies if uses_synthetic(s)]
    cells = build_cells(cfg, dataset, runs, None, real_only)
    metrics = run_cells(cells, cfg.workers, force, on_cell)
    require_finished_gan(gan_run)  # after the real-only cells, which do not need it
    per_class = sample_counts(dataset, cfg, every_class=cfg.cas)
    variants: dict[str, Any] = {}
    syn_cells: list[Cell] = []
    for v in cfg.variants:
        syn, sample_cfg = variant_sample(cfg, v, out, per_class)
        with _all_cores():  # no classifier runs meanwhile: sampling may use every core
            reused = ensure_sample(gan_run, syn, sample_cfg, force, stage)
        variants[v.name] = {"dir": relative_path(syn, out), "sample_reused": reused}
        if cfg.audit:
            _audit_variant(dataset, syn, out / "audit" / v.name, runs, cfg, force, stage)
        strategies = with_syn + (["synthetic-only"] if cfg.cas else [])
        syn_cells += build_cells(cfg, dataset, runs, syn, strategies, v.name)
    metrics.update(run_cells(syn_cells, cfg.workers, force, on_cell))
    part = {
        "synthetic": {"dir": "synthetic", "per_class": per_class, **gan_info},
        "gan_run": relative_path(gan_run, out),
        "variant_dirs": variants,
    }
    return cells + syn_cells, metrics, part


@contextlib.contextmanager
def _all_cores() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(before, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def variant_sample(
    cfg: ImbalanceConfig, v: VariantConfig, out: Path, per_class: dict[str, int]
) -> tuple[Path, SampleConfig]:
    """A variant's synthetic directory and sample config (selection by the first seed's run of
    the variant's real-only classifier strategy)."""
    clf = out / "runs" / v.classifier / f"seed-{cfg.seeds[0]}" if v.classifier else None
    sample_cfg = SampleConfig(
        per_class=per_class,
        seed=cfg.sample.seed,
        select=v.select,
        keep=v.keep,
        classifier=str(clf) if clf else None,
    )
    return out / "synthetic" / v.name, sample_cfg


def _audit_variant(dataset, syn, audit_dir, runs, cfg, force, stage) -> None:
    """Realism of a variant in the features of the real-only baseline (first seed)."""
    from lesiongan.evaluate.run import RealismConfig, run_realism

    clf = runs / BASELINE / f"seed-{cfg.seeds[0]}"
    rcfg = RealismConfig(features="domain", classifier=str(clf))
    with stage("audit realism") as progress:
        run_realism(dataset, syn, audit_dir / "realism", rcfg, force=force, progress=progress)


REALISM_KEYS = (
    "fid",
    "fid_floor",
    "kid_mean",
    "kid_mean_floor",
    "precision",
    "precision_floor",
    "recall",
    "recall_floor",
    "density",
    "coverage",
    "coverage_floor",
    "ms_ssim",
    "ms_ssim_floor",
)


def _variant_results(cfg: ImbalanceConfig, out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Per variant: how it was selected, its realism (when audited) and its CAS."""
    summary = results["summary"]
    variants = {}
    for v in cfg.variants:
        syn = out / "synthetic" / v.name
        info = read_info(syn)
        entry: dict[str, Any] = {
            "dir": relative_path(syn, out),
            "select": v.select,
            "keep": v.keep,
            "classifier": v.classifier,
            "selection": info.get("selection"),
            "counts": info.get("counts"),
        }
        metrics_path = out / "audit" / v.name / "realism" / "metrics.json"
        if metrics_path.is_file():
            m = json.loads(metrics_path.read_text())
            entry["realism"] = {k: m.get(k) for k in ("features", *REALISM_KEYS)}
        key = f"synthetic-only@{v.name}"
        if cfg.cas and key in summary and BASELINE in summary:
            entry["cas"] = classification_accuracy_score(
                _by_seed(results, key, "balanced_accuracy"),
                _by_seed(results, BASELINE, "balanced_accuracy"),
            )
        variants[v.name] = entry
    return variants


def _by_seed(results: dict[str, Any], strategy: str, key: str) -> dict[int, float]:
    return {
        r["seed"]: r["metrics"].get(key)
        for k, r in results["runs"].items()
        if k.split("/")[0] == strategy
    }


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
            "diff_t_ci_low",
            "diff_t_ci_high",
            "reference",
            "diff_vs_reference",
            "ref_ci_low",
            "ref_ci_high",
            "ref_p_not_better",
        ]
    )
    ref = results.get("reference") or ""
    for strategy, keys in results["summary"].items():
        for key, s in keys.items():
            d = results["paired"].get(strategy, {}).get(key, {})
            r = (results.get("paired_vs_reference") or {}).get(strategy, {}).get(key, {})
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
                    _fmt(d.get("t_ci_low")),
                    _fmt(d.get("t_ci_high")),
                    ref,
                    _fmt(r.get("diff")),
                    _fmt(r.get("ci_low")),
                    _fmt(r.get("ci_high")),
                    _fmt(r.get("p_not_better")),
                ]
            )
    write_text_atomic(out / "results.csv", buf.getvalue())


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"
