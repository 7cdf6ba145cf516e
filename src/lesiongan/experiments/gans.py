"""The GANs behind an experiment: trained in the plan (``gan``, one per ``gan.seeds``) or
finished runs reused (``gan.run`` / ``gan.runs``, checked against the experiment's train split),
and what identifies each in the results (seed, training length, the sampled checkpoint's
sha256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.errors import LesionganError
from lesiongan.experiments.config import ExperimentBase
from lesiongan.experiments.jobs import GanTask, Job
from lesiongan.experiments.results import relative_path
from lesiongan.gan.config import GanConfig
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.stage import DONE, read_status


def require_finished_gan(run: Path) -> None:
    """A reused GAN run (``gan.run``) must have finished its schedule before it is sampled."""
    if not Path(run).is_dir():
        raise LesionganError(f"{run}: no such GAN run directory (a reused run must exist)")
    state = read_status(run).get("state")
    if state != DONE:
        raise LesionganError(
            f"{run}: the GAN run is not finished (status {state or 'missing'}); finish it with "
            "'lesiongan gan train ... --resume', then run the experiment again (finished "
            "classifier runs are kept)"
        )


def gan_job(
    dataset: Path, run: Path, cfg: ExperimentBase, key: str = "gan", seed: int | None = None
) -> Job:
    """Training the experiment's GAN (its recipe and ``set``; ``seed``: the GAN's) into ``run``."""
    sets = cfg.gan.set if seed is None else {**cfg.gan.set, "seed": seed}
    gan_cfg = load_config(GanConfig, resolve_recipe(cfg.gan.config), sets)
    return Job(key, "gan", run, GanTask(dataset, run, gan_cfg))


def experiment_gans(cfg: ExperimentBase, dataset: Path, out: Path) -> tuple[list, list[Job]]:
    """``([(generator id, run dir)], jobs that train them)``: one GAN trained here (``gan``),
    one per seed in ``gan.seeds`` (``gan/gN``), or finished runs reused (none to train)."""
    ids = cfg.gan.generator_ids()
    if cfg.gan.runs:
        return [(g, Path(r)) for g, r in zip(ids, cfg.gan.runs)], []
    if cfg.gan.run:
        return [("", Path(cfg.gan.run))], []
    if not cfg.gan.seeds:
        return [("", out / "gan")], [gan_job(dataset, out / "gan", cfg)]
    gans, jobs = [], []
    for g, seed in zip(ids, cfg.gan.seeds):
        jobs.append(gan_job(dataset, out / "gan" / g, cfg, f"gan/{g}", seed))
        gans.append((g, out / "gan" / g))
    return gans, jobs


def check_gan_runs(cfg: ExperimentBase) -> list[Path]:
    """Reused GAN runs must have seen exactly the experiment's train split (the leakage guard's
    premise: no test image, and no label the experiment does not have). Returns them."""
    from lesiongan.data.manifest import split_fingerprint
    from lesiongan.gan.run import read_run_info

    reused = [Path(r) for r in cfg.gan.runs] + ([Path(cfg.gan.run)] if cfg.gan.run else [])
    if not reused:
        return []
    ds = load_dataset(Path(cfg.dataset), check_files=False)
    want = split_fingerprint(ds.rows, "train")
    for run in reused:
        if read_run_info(run).get("train_split_fingerprint") != want:
            raise LesionganError(
                f"{run}: trained on another train split than {cfg.dataset} (run.json "
                "fingerprint); a generator must see the experiment's train split only"
            )
    return reused


def gan_info(cfg: ExperimentBase, ran: set[str]) -> dict[str, Any]:
    if cfg.gan.run:
        return {"reused_gan": str(cfg.gan.run)}
    if cfg.gan.runs:
        return {"reused_gans": list(cfg.gan.runs)}
    return {"gan_reused": not any(k == "gan" or k.startswith("gan/") for k in ran)}


def generator_record(run: Path, out: Path) -> dict[str, Any]:
    """What identifies a GAN behind the results: its run, seed, training length, the train
    split it saw, and the sha256 of the checkpoint that was sampled (the last one)."""
    from lesiongan.gan.checkpoint import list_checkpoints
    from lesiongan.gan.run import load_run_config, read_run_info
    from lesiongan.utils.hashing import sha256_file

    info, status = read_run_info(run), read_status(run)
    gcfg = load_run_config(run)
    ckpts = list_checkpoints(run)
    return {
        "run": relative_path(run, out),
        "arch": gcfg.network.arch,
        "seed": gcfg.seed,
        "kimg": status.get("kimg"),
        "train_minutes": status.get("train_minutes"),
        "device": status.get("device"),
        "train_split_fingerprint": info.get("train_split_fingerprint"),
        "checkpoint": ckpts[-1].name if ckpts else None,
        "checkpoint_sha256": sha256_file(ckpts[-1]) if ckpts else None,
    }
