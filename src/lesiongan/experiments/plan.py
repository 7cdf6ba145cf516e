"""An experiment as a graph of jobs (GAN, sampling, classifier cells), for launchers other than
the local pool.

``plan_imbalance`` / ``plan_scarcity`` list every job of an experiment in dependency order, with
the stage directory each one fills and the jobs it waits for, without running anything (the
scarcity plan writes its fraction datasets: cheap links, and the cells' inputs). Each job's
state (``new`` / ``resume`` / ``done``) is decided by :func:`lesiongan.utils.stage.open_stage`,
exactly as the local path decides it; running a job calls the same ``run_*`` as the local path,
so the same seeds give the same numbers. ``finish`` aggregates through the local path's own
``finish_imbalance`` / ``finish_scarcity``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.errors import LesionganError
from lesiongan.experiments.cells import Cell, cell_status
from lesiongan.experiments.config import ImbalanceConfig, ScarcityConfig, uses_synthetic
from lesiongan.experiments.imbalance import (
    BASELINE,
    _synthetic_info,
    build_cells,
    relative_path,
    sample_counts,
    variant_sample,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.sample import SampleConfig
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.stage import DONE, NEW, open_stage


@dataclass(frozen=True)
class GanTask:
    dataset: Path
    run: Path
    config: GanConfig

    def state(self) -> str:
        return open_stage(self.run, self.config, [self.dataset], resumable=True).state

    def __call__(self) -> None:
        from lesiongan.gan.run import run_training

        run_training(self.dataset, self.run, self.config, resume=None)


@dataclass(frozen=True)
class SampleTask:
    gan_run: Path
    out: Path
    config: SampleConfig
    audit: tuple[Path, Path] | None = None  # (dataset, baseline classifier run): realism audit
    audit_dir: Path | None = None

    def state(self) -> str:
        inputs = [self.gan_run] + ([Path(self.config.classifier)] if self.config.classifier else [])
        state = open_stage(self.out, self.config, inputs).state
        if state == DONE and self.audit_dir and not (self.audit_dir / "metrics.json").is_file():
            return NEW  # the audit of a finished sample is still to do
        return state

    def __call__(self) -> None:
        from lesiongan.classify.scorer import load_classifier_scorer
        from lesiongan.gan.sample import run_sample

        run_sample(self.gan_run, self.out, self.config, scorer_loader=load_classifier_scorer)
        if self.audit and self.audit_dir:
            from lesiongan.evaluate.run import RealismConfig, run_realism

            rcfg = RealismConfig(features="domain", classifier=str(self.audit[1]))
            run_realism(self.audit[0], self.out, self.audit_dir, rcfg)


@dataclass(frozen=True)
class CellTask:
    cell: Cell

    def state(self) -> str:
        return cell_status(self.cell, force=False)

    def __call__(self) -> None:
        from lesiongan.classify.run import run_classify

        c = self.cell
        run_classify(c.dataset, c.out, c.config, c.synthetic, resume=None)


@dataclass(frozen=True)
class Job:
    key: str  # "gan", "sample/VARIANT", "STRATEGY/seed-S", "frac-F/STRATEGY/seed-S", ...
    stage: str  # gan | sample | classify: picks the launcher's resources
    out: Path  # the stage directory the job fills
    task: GanTask | SampleTask | CellTask
    after: tuple[str, ...] = ()  # keys of jobs that must have finished first


@dataclass
class Plan:
    experiment: str  # imbalance | scarcity
    jobs: list[Job]
    finish: Callable[[set[str], float], dict[str, Any]]  # (keys submitted, seconds) -> results
    info: dict[str, Any] = field(default_factory=dict)


def run_job(task: GanTask | SampleTask | CellTask) -> str:
    """What a SLURM job runs: one task, with as many torch threads as the job has CPUs."""
    import logging

    import torch

    threads = int(os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("OMP_NUM_THREADS", 1))
    torch.set_num_threads(max(1, threads))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    task()
    return task.state()


def _gan_job(dataset: Path, run: Path, cfg: Any, key: str = "gan") -> Job:
    gan_cfg = load_config(GanConfig, resolve_recipe(cfg.gan.config), cfg.gan.set)
    return Job(key, "gan", run, GanTask(dataset, run, gan_cfg))


def _cell_jobs(cells: list[Cell], after: tuple[str, ...], prefix: str = "") -> list[Job]:
    return [Job(prefix + c.key, "classify", c.out, CellTask(c), after) for c in cells]


def plan_imbalance(cfg: ImbalanceConfig, out: Path) -> Plan:
    from lesiongan.experiments.imbalance import finish_imbalance

    out, dataset = Path(out), Path(cfg.dataset)
    if cfg.variants:
        return _plan_variants(cfg, out, dataset)
    jobs: list[Job] = []
    after: tuple[str, ...] = ()
    gan_run: Path | None = None
    if cfg.sample.synthetic:
        synthetic = Path(cfg.sample.synthetic)
        gan_run = Path(cfg.gan.run) if cfg.gan.run else None
        syn_info = _synthetic_info(synthetic)
    else:
        if cfg.gan.run:
            gan_run = Path(cfg.gan.run)
        else:
            gan_run = out / "gan"
            jobs.append(_gan_job(dataset, gan_run, cfg))
        per_class = sample_counts(dataset, cfg)
        synthetic = out / "synthetic"
        sample_cfg = SampleConfig(per_class=per_class, seed=cfg.sample.seed)
        gan_keys = tuple(j.key for j in jobs)
        jobs.append(
            Job("sample", "sample", synthetic, SampleTask(gan_run, synthetic, sample_cfg), gan_keys)
        )
        after = ("sample",)
        syn_info = {"per_class": per_class}
    cells = build_cells(cfg, dataset, out / "runs", synthetic)
    jobs += _cell_jobs(cells, after)

    def finish(submitted: set[str], seconds: float) -> dict[str, Any]:
        info = dict(syn_info)
        if not cfg.sample.synthetic:
            info = (
                {"reused_gan": str(cfg.gan.run)}
                if cfg.gan.run
                else {"gan_reused": "gan" not in submitted}
            )
            info |= {"sample_reused": "sample" not in submitted, **syn_info}
        part = {
            "synthetic": {"dir": relative_path(synthetic, out), **info},
            "gan_run": relative_path(gan_run, out) if gan_run else None,
        }
        return finish_imbalance(cfg, out, cells, read_metrics(cells), part, seconds)

    return Plan("imbalance", jobs, finish)


def _plan_variants(cfg: ImbalanceConfig, out: Path, dataset: Path) -> Plan:
    """GAN -> real-only cells -> each variant's sample (after the run that selects or audits)
    -> the variant's cells; the same graph ``_run_variants`` walks in order."""
    from lesiongan.experiments.imbalance import finish_imbalance

    jobs: list[Job] = []
    if cfg.gan.run:
        gan_run = Path(cfg.gan.run)
    else:
        gan_run = out / "gan"
        jobs.append(_gan_job(dataset, gan_run, cfg))
    gan_keys = tuple(j.key for j in jobs)
    runs = out / "runs"
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    with_syn = [s for s in cfg.strategies if uses_synthetic(s)]
    cells = build_cells(cfg, dataset, runs, None, real_only)
    jobs += _cell_jobs(cells, ())
    per_class = sample_counts(dataset, cfg, every_class=cfg.cas)
    first = f"seed-{cfg.seeds[0]}"
    syn_cells: list[Cell] = []
    for v in cfg.variants:
        syn, sample_cfg = variant_sample(cfg, v, out, per_class)
        deps = gan_keys + ((f"{v.classifier}/{first}",) if v.classifier else ())
        audit = audit_dir = None
        if cfg.audit:
            audit = (dataset, runs / BASELINE / first)
            audit_dir = out / "audit" / v.name / "realism"
            deps += (f"{BASELINE}/{first}",)
        task = SampleTask(gan_run, syn, sample_cfg, audit, audit_dir)
        jobs.append(Job(f"sample/{v.name}", "sample", syn, task, tuple(dict.fromkeys(deps))))
        strategies = with_syn + (["synthetic-only"] if cfg.cas else [])
        v_cells = build_cells(cfg, dataset, runs, syn, strategies, v.name)
        jobs += _cell_jobs(v_cells, (f"sample/{v.name}",))
        syn_cells += v_cells
    all_cells = cells + syn_cells

    def finish(submitted: set[str], seconds: float) -> dict[str, Any]:
        gan_info = (
            {"reused_gan": str(cfg.gan.run)}
            if cfg.gan.run
            else {"gan_reused": "gan" not in submitted}
        )
        variants = {
            v.name: {
                "dir": relative_path(out / "synthetic" / v.name, out),
                "sample_reused": f"sample/{v.name}" not in submitted,
            }
            for v in cfg.variants
        }
        part = {
            "synthetic": {"dir": "synthetic", "per_class": per_class, **gan_info},
            "gan_run": relative_path(gan_run, out),
            "variant_dirs": variants,
        }
        return finish_imbalance(cfg, out, all_cells, read_metrics(all_cells), part, seconds)

    return Plan("imbalance", jobs, finish)


def plan_scarcity(cfg: ScarcityConfig, out: Path) -> Plan:
    from lesiongan.experiments.scarcity import (
        finish_scarcity,
        nested_fractions,
        uses_synthetic_any,
        write_fraction_dataset,
    )

    out, dataset = Path(out), Path(cfg.dataset)
    train = load_dataset(dataset).split_rows("train")
    subsets = nested_fractions([r.label for r in train], cfg.fractions, cfg.seeds[0])
    jobs: list[Job] = []
    fractions: list[tuple[float, int, list[Cell]]] = []
    for f, keep in subsets.items():
        tag = f"frac-{f:g}"
        sub = write_fraction_dataset(dataset, out / "data" / tag, keep, f)
        synthetic, after = None, ()
        if uses_synthetic_any(cfg):
            gan_run, synthetic = out / tag / "gan", out / tag / "synthetic"
            jobs.append(_gan_job(sub, gan_run, cfg, f"{tag}/gan"))
            sample_cfg = SampleConfig(per_class=sample_counts(sub, cfg), seed=cfg.sample.seed)
            task = SampleTask(gan_run, synthetic, sample_cfg)
            jobs.append(Job(f"{tag}/sample", "sample", synthetic, task, (f"{tag}/gan",)))
            after = (f"{tag}/sample",)
        cells = build_cells(cfg, sub, out / tag / "runs", synthetic)
        jobs += _cell_jobs(cells, after, f"{tag}/")
        fractions.append((f, int(keep.size), cells))

    def finish(submitted: set[str], seconds: float) -> dict[str, Any]:
        metrics = {}
        for f, _, cells in fractions:
            metrics |= {f"frac-{f:g}/{k}": m for k, m in read_metrics(cells).items()}
        return finish_scarcity(cfg, out, fractions, metrics, seconds)

    return Plan("scarcity", jobs, finish)


def read_metrics(cells: list[Cell]) -> dict[str, dict[str, Any]]:
    import json

    missing = [c.key for c in cells if not (c.out / "metrics.json").is_file()]
    if missing:
        raise LesionganError(
            f"{missing[0]}: not finished (no metrics.json); {len(missing)} cells left"
        )
    return {c.key: json.loads((c.out / "metrics.json").read_text()) for c in cells}
