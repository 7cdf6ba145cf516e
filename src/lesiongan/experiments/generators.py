"""``lesiongan experiment generators``: generator families head to head on equal compute.

Directory layout (every part a stage of its own, reused when finished, resumed when not)::

    DIR/config.yaml, provenance.json, status.json
    DIR/gan/NAME/                    each generator trained here (``gan train`` run directory)
    DIR/runs/none/seed-S/            the real-only baseline: CAS's denominator
    DIR/curve/NAME/kimg-K/synthetic  a checkpoint along training, sampled ...
    DIR/curve/NAME/kimg-K/realism    ... and audited (the quality-against-time curve)
    DIR/synthetic/NAME/              the final checkpoint, sampled
    DIR/audit/NAME/realism|memorization|structures   in ImageNet features (generators_audit)
    DIR/runs/synthetic-only@NAME/seed-S/   CAS
    DIR/results.json, results.md, figures/

Equal compute: a generator trained here gets ``budget_minutes`` of wall clock
(``schedule.max_minutes``); with ``workers: 2`` two generators train at once with one torch
thread each, so each has one core for the same time. A reused run (``run:``, e.g. trained on a
GPU) brings its own budget, recorded in the results from its ``status.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.config import load_config
from lesiongan.data.manifest import PreparedDataset, load_dataset, split_fingerprint
from lesiongan.data.synthetic import read_info
from lesiongan.errors import LesionganError
from lesiongan.experiments.aggregate import classification_accuracy_score, summarize
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import GeneratorEntry, GeneratorsConfig
from lesiongan.experiments.gans import require_finished_gan
from lesiongan.experiments.generators_audit import (
    AUDITS,
    REALISM,
    audit_config,
    best_by_measure,
    floor,
    memorization_summary,
    realism_summary,
    structures_detectors,
    structures_summary,
)
from lesiongan.experiments.imbalance import BASELINE, build_cells
from lesiongan.experiments.jobs import (
    AuditTask,
    GanTask,
    Job,
    Plan,
    SampleTask,
    cell_jobs,
    read_metrics,
)
from lesiongan.experiments.results import dataset_summary, relative_path
from lesiongan.gan.checkpoint import list_checkpoints
from lesiongan.gan.config import GanConfig
from lesiongan.gan.run import load_run_config, read_run_info
from lesiongan.gan.sample import SampleConfig
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.stage import DONE, read_status, write_status


def gan_config(cfg: GeneratorsConfig, g: GeneratorEntry) -> GanConfig:
    """A generator's training config: its recipe, its ``set``, and the experiment's budget and
    snapshot grain (every tick is a checkpoint, and all are kept for the curve)."""
    sets = {
        **g.set,
        "schedule.max_minutes": cfg.budget_minutes,
        "log.tick_kimg": cfg.snapshot_kimg,
        "log.snapshot_ticks": 1,
        "log.keep_checkpoints": 100000,
    }
    return load_config(GanConfig, resolve_recipe(g.config or ""), sets)


def gan_run_dir(cfg: GeneratorsConfig, g: GeneratorEntry, out: Path) -> Path:
    return Path(g.run) if g.run else out / "gan" / g.name


def check_reused_run(run: Path, ds: PreparedDataset) -> None:
    """A reused run must be finished, trained on this dataset's train split, and audit-ready."""
    require_finished_gan(run)
    info = read_run_info(run)
    if info.get("train_split_fingerprint") != split_fingerprint(ds.rows, "train"):
        raise LesionganError(
            f"{run}: trained on another train split than {ds.root} (run.json fingerprint); "
            "a generator must see the experiment's train split only"
        )
    curve_checkpoints(run, 1)


def checkpoint_minutes(run: Path) -> list[tuple[Path, float, float]]:
    """``(checkpoint, kimg, training minutes)`` for every checkpoint whose tick is in
    ``stats.jsonl`` (the minutes come from there; a reused run's last checkpoint gets its
    ``status.json`` minutes when its stats have none)."""
    full = load_run_config(run).network.resolution
    minutes_at: dict[int, float] = {}
    stats = run / "stats.jsonl"
    if stats.is_file():
        for line in stats.read_text().splitlines():
            row = json.loads(line)
            # a growing PGGAN's checkpoints below full resolution draw smaller images, which
            # are not comparable with the others: the curve starts at full resolution
            if row.get("train_sec") is not None and row.get("resolution", full) == full:
                minutes_at[round(row["kimg"] * 1000)] = row["train_sec"] / 60
    status = read_status(run)
    found = []
    ckpts = list_checkpoints(run)
    for ck in ckpts:
        nimg = int(ck.stem.split("-")[1])
        minutes = minutes_at.get(nimg)
        if minutes is None and ck == ckpts[-1] and not stats.is_file():
            minutes = status.get("train_minutes")  # a reused run that kept its last one only
        if minutes is not None and nimg > 0:
            found.append((ck, nimg / 1000, float(minutes)))
    return found


def curve_checkpoints(run: Path, points: int) -> list[tuple[Path, float, float]]:
    """``points`` checkpoints evenly spaced in training time, the last one always included."""
    found = checkpoint_minutes(run)
    ckpts = list_checkpoints(run)
    if not found or not ckpts or found[-1][0] != ckpts[-1]:
        raise LesionganError(
            f"{run}: its last checkpoint has no training time at full resolution (stats.jsonl "
            "or status.json train_minutes): was the run trained to its final resolution, with "
            "this version?"
        )
    total = found[-1][2]
    chosen: list[tuple[Path, float, float]] = []
    for k in range(1, points + 1):
        target = total * k / points
        best = min(found, key=lambda f: abs(f[2] - target))
        if best not in chosen:
            chosen.append(best)
    return sorted(chosen, key=lambda f: f[2])


def _sample_config(cfg: GeneratorsConfig, classes: list[str], n: int, ckpt: Path) -> SampleConfig:
    return SampleConfig(
        per_class={c: n for c in classes}, seed=cfg.seed, checkpoint=str(ckpt), score_real=False
    )


def plan_generators(cfg: GeneratorsConfig, out: Path) -> Plan:
    """Baseline cells and GANs first; once a GAN has finished, its curve (checkpoints sampled
    and audited), its final sample, audits and CAS cells (before that: deferred)."""
    out, dataset = Path(out), Path(cfg.dataset)
    ds = load_dataset(dataset)  # a bad dataset fails before anything is written
    classes = list(ds.classes)
    runs = out / "runs"
    base_cells = build_cells(cfg, dataset, runs, None, [BASELINE])
    jobs = cell_jobs(base_cells)
    deferred: list[str] = []
    cas_cells: list[Cell] = []
    finals: dict[str, tuple[Path, Path, list[dict[str, Any]]]] = {}
    for g in cfg.generators:
        run = gan_run_dir(cfg, g, out)
        gan_keys: tuple[str, ...] = ()
        if g.config:
            # one torch thread per generator whenever generators share the machine (workers >
            # 1), even when only one is left to train (a resumed experiment): equal compute
            task = GanTask(dataset, run, gan_config(cfg, g))
            jobs.append(Job(f"gan/{g.name}", "gan", run, task, parallel=cfg.workers > 1))
            gan_keys = (f"gan/{g.name}",)
            if task.state() != DONE:
                deferred.append(f"curve/{g.name} (after gan/{g.name})")
                continue
        else:
            check_reused_run(run, ds)
        curve = []
        for ckpt, kimg, minutes in curve_checkpoints(run, cfg.curve_points):
            where = out / "curve" / g.name / f"kimg-{kimg:09.3f}"
            key = f"curve/{g.name}/kimg-{kimg:g}"
            syn = where / "synthetic"
            scfg = _sample_config(cfg, classes, cfg.curve_per_class, ckpt)
            jobs.append(Job(f"{key}/sample", "sample", syn, SampleTask(run, syn, scfg), gan_keys))
            acfg = audit_config("realism", ms_ssim_pairs=100, fid_bootstrap=0)
            audit = AuditTask("realism", dataset, syn, where / "realism", acfg)
            jobs.append(Job(f"{key}/audit", "audit", audit.out, audit, (f"{key}/sample",)))
            curve.append({"kimg": kimg, "minutes": minutes, "checkpoint": ckpt, "dir": where})
        final = list_checkpoints(run)[-1]  # the curve's last point: pinned, not "the latest"
        syn = out / "synthetic" / g.name
        scfg = _sample_config(cfg, classes, cfg.per_class, final)
        jobs.append(Job(f"sample/{g.name}", "sample", syn, SampleTask(run, syn, scfg), gan_keys))
        for kind in (k for k in AUDITS if cfg.memorization or k != "memorization"):
            task = AuditTask(kind, dataset, syn, out / "audit" / g.name / kind, audit_config(kind))
            jobs.append(
                Job(f"audit/{g.name}/{kind}", "audit", task.out, task, (f"sample/{g.name}",))
            )
        if cfg.cas:
            mine = build_cells(cfg, dataset, runs, syn, ["synthetic-only"], g.name)
            jobs += cell_jobs(mine, (f"sample/{g.name}",))
            cas_cells += mine
        finals[g.name] = (run, syn, curve)

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        metrics = read_metrics(base_cells + cas_cells)
        return finish_generators(cfg, out, finals, base_cells, cas_cells, metrics, seconds)

    return Plan("generators", jobs, finish, deferred)


def finish_generators(
    cfg: GeneratorsConfig,
    out: Path,
    finals: dict[str, tuple[Path, Path, list[dict[str, Any]]]],
    base_cells: list[Cell],
    cas_cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    """results.json, results.md and figures from the finished stages."""
    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.info["classes"])
    baseline = out / "runs" / BASELINE / f"seed-{cfg.seeds[0]}"
    per_gen: dict[str, dict[str, Any]] = {}
    for g in cfg.generators:
        run, syn, points = finals[g.name]
        entry: dict[str, Any] = {"run": relative_path(run, out), "reused_run": bool(g.run)}
        entry["curve"] = [
            {
                "kimg": p["kimg"],
                "minutes": p["minutes"],
                "checkpoint": relative_path(p["checkpoint"], out),
                **{k: m.get(k) for k in REALISM},
            }
            for p in points
            for m in [_read_json(p["dir"] / "realism" / "metrics.json")]
        ]
        audit = out / "audit" / g.name
        entry["realism"] = realism_summary(_read_json(audit / "realism" / "metrics.json"))
        if cfg.memorization:
            mem = _read_json(audit / "memorization" / "metrics.json")
            entry["memorization"] = memorization_summary(mem)
        structures = _read_json(audit / "structures" / "metrics.json")
        entry["structures"] = structures_summary(structures)
        entry["training"] = _training_summary(run)
        entry["sample"] = {"dir": relative_path(syn, out), "counts": read_info(syn).get("counts")}
        mine = [c for c in cas_cells if c.key.startswith(f"synthetic-only@{g.name}/")]
        if mine:
            entry["cas"] = classification_accuracy_score(
                _by_seed(mine, metrics, "balanced_accuracy"),
                _by_seed(base_cells, metrics, "balanced_accuracy"),
            )
        per_gen[g.name] = entry
    by_seed = {c.config.seed: metrics[c.key] for c in base_cells}
    results = {
        "experiment": "generators",
        "dataset": dataset_summary(dataset, ds),
        "classes": classes,
        "budget_minutes": cfg.budget_minutes,
        "workers": cfg.workers,
        "seeds": cfg.seeds,
        "baseline": {
            "run": relative_path(baseline, out),
            "summary": summarize({BASELINE: by_seed}, classes)[BASELINE],
        },
        "floor": floor(per_gen),
        "structures_real": structures_summary(structures, "real"),
        "structures_detectors": structures_detectors(structures),
        "generators": per_gen,
        "best": best_by_measure(per_gen),
        "seconds": seconds,
    }
    write_generator_results(out, results)
    write_status(out, DONE)
    return results


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def check_generators(cfg: GeneratorsConfig) -> list[Path]:
    """A bad recipe, key or reused run fails before anything is written; returns reused runs."""
    ds = load_dataset(Path(cfg.dataset))
    for g in cfg.generators:
        if g.config:
            gan_config(cfg, g)
        else:
            check_reused_run(Path(g.run or ""), ds)
    return [Path(g.run) for g in cfg.generators if g.run]


def run_generators(
    cfg: GeneratorsConfig,
    out: Path,
    force: bool = False,
    stage: Any = None,
    on_cell: Any = None,
) -> dict[str, Any]:
    """Run the head to head here (the local launcher)."""
    from lesiongan.experiments.kinds import run_experiment
    from lesiongan.experiments.stages import no_progress

    return run_experiment("generators", cfg, out, force, stage or no_progress, on_cell)


def _by_seed(cells: list[Cell], metrics: dict[str, Any], key: str) -> dict[int, float]:
    return {c.config.seed: metrics[c.key].get(key) for c in cells}


def _training_summary(run: Path) -> dict[str, Any]:
    status = read_status(run)
    gcfg = load_run_config(run)
    stats = []
    if (run / "stats.jsonl").is_file():
        stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines() if x]
    final = [s["img_per_s"] for s in stats if s.get("resolution") == gcfg.network.resolution]
    return {
        "arch": gcfg.network.arch,
        "resolution": gcfg.network.resolution,
        "channels": gcfg.network.fmap_max,
        "kimg": status.get("kimg"),
        "minutes": status.get("train_minutes"),
        "stopped_by": status.get("stopped_by"),
        "img_per_s_final_resolution": float(np.median(final)) if final else None,
        "device": status.get("device"),
        "transition_kimg": gcfg.conditioning.transition_kimg,
    }


def _finite(x: Any) -> Any:
    """NaN / Inf -> None (strict JSON)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_generator_results(out: Path, results: dict[str, Any]) -> None:
    """results.json, results.md and figures/ (``lesiongan report DIR`` redoes the last two)."""
    from lesiongan.experiments.generators_audit import copy_audit_figures
    from lesiongan.experiments.generators_report import (
        curve_plot,
        render_generators_markdown,
        side_by_side_grids,
    )

    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    (figures / "curve.png").write_bytes(curve_plot(results))
    for cls, png in side_by_side_grids(out, results).items():
        (figures / f"grid-{cls}.png").write_bytes(png)
    copy_audit_figures(out, results)
    write_text_atomic(
        out / "results.json", json.dumps(_finite(results), indent=2, allow_nan=False) + "\n"
    )
    write_text_atomic(out / "results.md", render_generators_markdown(results) + "\n")
