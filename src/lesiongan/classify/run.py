"""``lesiongan classify train``: a classifier run directory around the in-memory trainer.

The run directory appears (atomically) with ``config.yaml``, ``provenance.json``, ``run.json``
(dataset and synthetic inputs with fingerprints, classes, split sizes) and ``splits.csv`` (which
real image served as train, val or test). Each finished epoch updates ``checkpoints/last.pt``,
``history.jsonl`` and ``status.json`` (atomically), so ``--resume`` continues an interrupted run
from its last finished epoch. At the end the best epoch on the validation split (carved from
train, never the test split) is evaluated once on the test split: ``metrics.json``,
``predictions.csv``, ``model.pt`` and PNG plots are written, ``status.json`` says ``done`` and
the resume checkpoint is deleted (``--resume`` on a finished run returns its metrics).

Before anything is trained, the leakage guard refuses a test split that shares an image
(``source_sha256``) with the training set of the GAN behind ``--synthetic``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.inputs import resolve_inputs
from lesiongan.classify.outputs import RUN_JSON, finish, write_run_files
from lesiongan.classify.paths import PATHS
from lesiongan.classify.trainer import ClassifierTrainer
from lesiongan.errors import LesionganError
from lesiongan.utils.device import resolve_device
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.stage import begin_stage, config_diff, locked_stage, write_status
from lesiongan.utils.state import load_state, save_state

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoints/last.pt"
RESUME_FORMAT = "lesiongan-classify-resume-v1"
Event = Callable[[dict[str, Any]], None]


@dataclass
class ClassifyResult:
    run_dir: Path
    done: bool
    epochs_done: int
    best_epoch: int
    metrics: dict[str, Any] | None  # metrics.json once done
    reused: bool = False  # an equal finished run was there; nothing was trained


@locked_stage("out")  # one process trains in a directory; a failed run says so in status.json
def run_classify(
    dataset: Path,
    out: Path,
    cfg: ClassifyConfig,
    synthetic: Path | None = None,
    resume: bool | None = False,
    force: bool = False,
    events: Event | None = None,
    stop_after_epochs: int | None = None,
    workers: int | None = None,
    may_change: tuple[str, ...] = (),
) -> ClassifyResult:
    """Train, select on validation, test once. ``events`` gets progress dicts (``stage`` key).

    ``resume``: False = a new run (an equal finished run is reused, an unfinished one refused),
    True = continue an existing run, None = whatever the directory needs (experiments).
    ``may_change``: config keys that may differ on resume (``--set``).
    """
    dataset, out = Path(dataset), Path(out)
    emit = events or (lambda e: None)
    inputs = resolve_inputs(dataset, cfg, Path(synthetic) if synthetic else None)
    input_dirs = [dataset] + ([inputs.synthetic.root] if inputs.synthetic else [])
    stage = begin_stage(
        out,
        cfg,
        input_dirs,
        name="classify train",
        force=force,
        resumable=True,
        resume=resume,
        may_change=may_change,
        done_files=("metrics.json",),
        check=lambda d: _check_resume(d, inputs.run_info),
    )
    if stage.is_done:  # nothing left to do: the resume checkpoint was removed when done
        metrics = json.loads((out / "metrics.json").read_text())
        return ClassifyResult(out, True, metrics["epochs"], metrics["best_epoch"], metrics, True)
    device = resolve_device(cfg.device)
    path = PATHS[cfg.mode](cfg, inputs, device, emit, workers)
    trainer = path.build_trainer()
    if stage.is_new:
        with stage.write() as tmp:
            stage.provenance = write_run_files(tmp, inputs)
    else:
        stage.continued()
        if (out / CHECKPOINT).is_file():
            trainer.load_state_dict(_load_checkpoint(out / CHECKPOINT, cfg, stage.changed))
            log.info("resumed %s after epoch %d", out, trainer.epoch)
    while trainer.epoch < cfg.epochs:
        if stop_after_epochs is not None and trainer.epoch >= stop_after_epochs:
            _write_status(out, "stopped", trainer)
            return ClassifyResult(out, False, trainer.epoch, trainer.best_epoch, None)
        _write_status(out, "running", trainer)
        stats = trainer.train_one_epoch(lambda s: emit({"stage": "step", **s}))
        _save_checkpoint(out, trainer)
        emit({"stage": "epoch", "epochs": cfg.epochs, "best_epoch": trainer.best_epoch, **stats})
    emit({"stage": "test"})
    metrics = finish(out, cfg, inputs, trainer, path)
    _write_status(out, "done", trainer)
    # the resume checkpoint (weights, optimizer, best weights: ~4x model.pt) is not needed any
    # more; an experiment of many runs would otherwise keep gigabytes of them
    (out / CHECKPOINT).unlink(missing_ok=True)
    return ClassifyResult(out, True, trainer.epoch, trainer.best_epoch, metrics)


def _check_resume(out: Path, run_info: dict[str, Any]) -> None:
    path = out / RUN_JSON
    if not path.is_file():
        raise LesionganError(f"{out}: nothing to resume (no {RUN_JSON}); drop --resume to start")
    saved = json.loads(path.read_text())
    for key in ("dataset_fingerprint", "synthetic_manifest_sha256", "n_train", "n_val"):
        if saved.get(key) != run_info.get(key):
            raise LesionganError(
                f"{path}: the run was started with other inputs ({key} differs); "
                "resume with the same dataset and --synthetic, or start a new run"
            )


def _save_checkpoint(out: Path, trainer: ClassifierTrainer) -> None:
    save_state(out / CHECKPOINT, RESUME_FORMAT, {"state": trainer.state_dict()}, trainer.cfg)
    lines = "".join(json.dumps(h) + "\n" for h in trainer.history)
    write_text_atomic(out / "history.jsonl", lines)


def _load_checkpoint(path: Path, cfg: ClassifyConfig, changed: list[str]) -> dict[str, Any]:
    """The resume file's trainer state, after checking it was written with this config."""
    state = load_state(path, RESUME_FORMAT)
    saved = state.get("config") or {}
    # keys added since it was written read as their defaults, as config.yaml's do; keys since
    # removed or renamed stay as written, and the diff names them
    with contextlib.suppress(ValueError):
        saved = ClassifyConfig.model_validate(saved).model_dump(mode="json")
    diff = [k for k in config_diff(saved, cfg.model_dump(mode="json"))]
    diff = [k for k in diff if k not in changed]
    if diff:
        raise LesionganError(
            f"{path}: written with other settings ({', '.join(diff[:3])} differ); "
            "start a new run or use --force"
        )
    return state["state"]


def _write_status(out: Path, state: str, trainer: ClassifierTrainer) -> None:
    write_status(
        out,
        state,
        epochs_done=trainer.epoch,
        epochs=trainer.cfg.epochs,
        best_epoch=trainer.best_epoch,
    )
