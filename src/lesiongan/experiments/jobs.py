"""An experiment as a plan of jobs: what each launcher (local, SLURM) runs, defined once.

A :class:`Plan` lists every job of an experiment in dependency order: the stage directory each
one fills, the jobs it waits for, and the task that fills it. A task's ``state()`` (``new`` /
``resume`` / ``done``) is decided by :func:`lesiongan.utils.stage.open_stage`, the stage owner,
and calling the task runs the stage's own ``run_*`` function. So the same config gives the same
directories and the same numbers whichever launcher runs them, and a re-run skips every job
whose directory is finished with the same config.

Some jobs can only be planned once others have finished (a sample's audit needs the sample; a
curve needs a GAN's checkpoints): the planner leaves them out and names them in
``Plan.deferred``. The local launcher plans again after every step until nothing is deferred;
the SLURM launcher submits what is planned and says what is left.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lesiongan.config import Config
from lesiongan.errors import LesionganError
from lesiongan.experiments.cells import Cell, cell_status
from lesiongan.utils.stage import begin_stage, open_stage

ProgressFn = Callable[..., None]


class Task(Protocol):
    """One stage directory's work. ``state()`` never writes; calling the task fills it."""

    def state(self) -> str: ...

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        """``workers``: image-loading processes (1 inside a parallel worker)."""

    # optional: ``multi_gpu_command(n_gpus, config_file, resume) -> argv``, the command that
    # runs the task on several GPUs of one node (a launcher with more than one GPU uses it)


@dataclass(frozen=True)
class GanTask:
    dataset: Path
    run: Path
    config: Any  # GanConfig

    def state(self) -> str:
        return open_stage(self.run, self.config, [self.dataset], resumable=True).state

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        from lesiongan.gan.run import run_training

        run_training(self.dataset, self.run, self.config, resume=None, progress=progress)

    def multi_gpu_command(self, n_gpus: int, config_file: Path, resume: bool) -> list[str]:
        """``torchrun --nproc_per_node=N -m lesiongan gan train`` with the resolved config
        (written to ``config_file``)."""
        import sys

        from lesiongan.config import save_config

        save_config(self.config, config_file)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += [f"--nproc_per_node={n_gpus}", "-m", "lesiongan", "gan", "train", str(self.dataset)]
        return (
            cmd
            + ["--out", str(self.run), "--config", str(config_file)]
            + (["--resume"] if resume else [])
        )


@dataclass(frozen=True)
class SampleTask:
    gan_run: Path
    out: Path
    config: Any  # SampleConfig

    def state(self) -> str:
        extra = [Path(self.config.classifier)] if self.config.classifier else []
        return open_stage(self.out, self.config, [self.gan_run, *extra]).state

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        from lesiongan.classify.scorer import load_classifier_scorer
        from lesiongan.experiments.gans import require_finished_gan
        from lesiongan.gan.sample import run_sample

        require_finished_gan(self.gan_run)  # an experiment samples finished GANs only
        run_sample(
            self.gan_run,
            self.out,
            self.config,
            progress=progress,
            scorer_loader=load_classifier_scorer,
        )


@dataclass(frozen=True)
class AuditTask:
    """An ``eval realism|memorization|structures`` of a synthetic directory against the
    dataset."""

    kind: str  # realism | memorization | structures
    dataset: Path
    synthetic: Path
    out: Path
    config: Any  # RealismConfig | MemorizationConfig | StructuresConfig

    def state(self) -> str:
        return open_stage(self.out, self.config, [self.dataset, self.synthetic]).state

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        from lesiongan.evaluate import run as audits

        fn = {
            "realism": audits.run_realism,
            "memorization": audits.run_memorization,
            "structures": audits.run_structures,
        }[self.kind]
        fn(self.dataset, self.synthetic, self.out, self.config, progress=progress)


@dataclass(frozen=True)
class CellTask:
    """One classifier run (an experiment cell)."""

    cell: Cell

    def state(self) -> str:
        return cell_status(self.cell, force=False)

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        from lesiongan.classify.run import run_classify

        c = self.cell
        run_classify(c.dataset, c.out, c.config, c.synthetic, resume=None, workers=workers)


@dataclass(frozen=True)
class Job:
    key: str  # "gan", "sample/VARIANT", "STRATEGY/seed-S", "frac-F/STRATEGY/seed-S", ...
    stage: str  # gan | sample | audit | classify: picks a SLURM launcher's resources
    out: Path  # the stage directory the job fills
    task: Any  # a Task
    after: tuple[str, ...] = ()  # keys of jobs that must have finished first
    # may run in a worker process with one torch thread beside other such jobs (classifier
    # cells, an imbalance experiment's realism audits); the others run one at a time with every
    # core (GAN training, sampling, features)
    parallel: bool = False


@dataclass
class Plan:
    experiment: str  # a registered kind (lesiongan.experiments.kinds)
    jobs: list[Job]
    finish: Callable[[set[str], float], dict[str, Any]]  # (keys run here, seconds) -> results
    deferred: list[str] = field(default_factory=list)  # jobs planned once others finish

    def __post_init__(self) -> None:
        keys = [j.key for j in self.jobs]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise LesionganError(f"experiment plan: job {dup!r} is planned twice")


def cell_jobs(cells: list[Cell], after: tuple[str, ...] = (), prefix: str = "") -> list[Job]:
    return [Job(prefix + c.key, "classify", c.out, CellTask(c), after, True) for c in cells]


def read_metrics(cells: list[Cell]) -> dict[str, dict[str, Any]]:
    """``{cell key: metrics.json}``; a one-line error names the first unfinished cell."""
    missing = [c.key for c in cells if not (c.out / "metrics.json").is_file()]
    if missing:
        raise LesionganError(
            f"{missing[0]}: not finished (no metrics.json); {len(missing)} cells left"
        )
    return {c.key: json.loads((c.out / "metrics.json").read_text()) for c in cells}


def run_job(task: Any) -> str:
    """What a SLURM job runs: one task, with as many torch threads as the job has CPUs."""
    import logging

    import torch

    threads = int(os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("OMP_NUM_THREADS", 1))
    torch.set_num_threads(max(1, threads))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    task()
    return task.state()


class FeaturesConfig(Config):
    """What a features job caches: the cached path's feature spec, for these directories."""

    feature_spec: str
    dataset: str
    synthetic: str | None = None


@dataclass(frozen=True)
class FeaturesTask:
    """The cached path's frozen features of a dataset (and a synthetic set), computed once with
    every core before the cells that read them run in parallel workers (which would otherwise
    compute the same matrices side by side). ``out`` records what was cached."""

    dataset: Path
    synthetic: Path | None
    out: Path
    classify: Any  # ClassifyConfig (mode: cached)

    def config(self) -> FeaturesConfig:
        from lesiongan.classify.inputs import feature_spec

        size = self.classify.image_size or 0
        return FeaturesConfig(
            feature_spec=feature_spec(self.classify, size).id if size else f"{self.classify.model}",
            dataset=str(Path(self.dataset).resolve()),
            synthetic=str(Path(self.synthetic).resolve()) if self.synthetic else None,
        )

    def state(self) -> str:
        inputs = [self.dataset] + ([self.synthetic] if self.synthetic else [])
        return open_stage(self.out, self.config(), inputs).state

    def __call__(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        from lesiongan.classify.features import precompute_features

        inputs = [self.dataset] + ([self.synthetic] if self.synthetic else [])
        stage = begin_stage(self.out, self.config(), inputs, name="experiment features")
        if stage.is_done:
            return
        done = precompute_features(
            self.dataset, self.classify, self.synthetic, workers=workers, progress=progress
        )
        with stage.write() as tmp:
            (tmp / "features.json").write_text(json.dumps(done, indent=2) + "\n")


def features_job(
    key: str, dataset: Path, synthetic: Path | None, out: Path, classify: Any, after: tuple = ()
) -> Job | None:
    """The features job of a set of cells on the cached path (None on any other path)."""
    if getattr(classify, "mode", "finetune") != "cached":
        return None
    return Job(key, "features", out, FeaturesTask(dataset, synthetic, out, classify), after)
