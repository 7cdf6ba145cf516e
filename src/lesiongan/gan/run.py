"""``lesiongan gan train``: a training run directory around :class:`~lesiongan.gan.trainer.Trainer`.

The run directory holds ``config.yaml``, ``provenance.json``, ``run.json`` (dataset, classes and
the fingerprint of the train split, for the leakage guard), ``train_images.csv`` (the images the
GAN saw), ``checkpoints/``, ``grids/``, ``stats.jsonl``, ``tensorboard/`` and ``status.json``
(``running`` until the schedule ends, then ``done``). Checkpoints are atomic; ``--resume``
continues from the latest one. The directory's life (new / resume / done / refused) is decided
by :func:`lesiongan.utils.stage.begin_stage`: resuming with the same config (or the saved one)
works, keys changed on purpose with ``--set`` are accepted and written to ``config.yaml``, any
other difference is refused naming the keys.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lesiongan.config import apply_overrides, read_yaml_mapping
from lesiongan.data.manifest import dataset_fingerprint, load_dataset, split_fingerprint
from lesiongan.errors import ConfigError, DataError, LesionganError
from lesiongan.gan.checkpoint import (
    check_compatible,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.data import load_train_images
from lesiongan.gan.schedule import build_phases, total_nimg
from lesiongan.gan.ticks import truncate_stats
from lesiongan.gan.trainer import ProgressFn, Trainer, resolve_device
from lesiongan.utils.distributed import DistInfo, barrier, init_distributed, shutdown
from lesiongan.utils.stage import DONE, begin_stage, locked_stage, write_status

log = logging.getLogger(__name__)
RUN_JSON = "run.json"


@dataclass
class TrainResult:
    run_dir: Path
    cur_kimg: float
    total_kimg: float
    done: bool
    checkpoint: Path
    rank: int = 0
    reused: bool = False  # an equal finished run was there; nothing was trained
    out_of_time: bool = False  # ended by schedule.max_minutes before the kimg schedule


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """A run's record of its training data (``run.json`` + ``train_images.csv``): required by
    every consumer, since the leakage guard needs to know the images the GAN saw."""
    run_json, train_images = Path(run_dir) / RUN_JSON, Path(run_dir) / "train_images.csv"
    for p in (run_json, train_images):
        if not p.is_file():
            raise LesionganError(
                f"{p}: missing; without it the images the GAN saw are unknown and a classifier "
                "could be tested on them (is this a 'gan train' run directory?)"
            )
    try:
        return json.loads(run_json.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LesionganError(f"{run_json}: not valid JSON") from None


def load_run_config(run_dir: Path, overrides: dict[str, Any] | None = None) -> GanConfig:
    """The config saved in a run directory, with optional overrides."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise LesionganError(
            f"{run_dir}: not a GAN run directory (no config.yaml); drop --resume to start one"
        )
    data = apply_overrides(read_yaml_mapping(path), overrides or {})
    try:
        return GanConfig.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from None


@locked_stage("out")  # one process trains in a directory; a failed run says so in status.json
def run_training(
    dataset: Path,
    out: Path,
    cfg: GanConfig,
    resume: bool | None = False,
    force: bool = False,
    progress: ProgressFn | None = None,
    stop_at_kimg: float | None = None,
    may_change: tuple[str, ...] = (),
) -> TrainResult:
    """Train (or continue, or reuse) the run in ``out``.

    ``resume``: False = a new run (an equal finished one is reused; an unfinished one is
    refused), True = continue an existing run (refused when there is none), None = whatever the
    directory needs (experiments). ``may_change``: config keys that may differ on resume.
    """
    dataset, out = Path(dataset), Path(out)
    device_type = (
        "cuda"
        if cfg.runtime.device.startswith("cuda")
        or (cfg.runtime.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    resolve_device(cfg.runtime.device, DistInfo())  # a bad name fails before any process group
    info = init_distributed(device_type)
    ok = False
    try:
        result = _run(dataset, out, cfg, resume, force, progress, stop_at_kimg, info, may_change)
        ok = True
        return result
    finally:
        shutdown(info, ok)


def _run(
    dataset, out, cfg, resume, force, progress, stop_at_kimg, info: DistInfo, may_change
) -> TrainResult:
    ds = load_dataset(dataset)
    data = load_train_images(ds, cfg.network.resolution, cfg.data.classes)
    run_info = {
        "dataset": str(dataset.resolve()),
        "dataset_fingerprint": dataset_fingerprint(dataset),
        "train_split_fingerprint": split_fingerprint(ds.rows, "train"),
        "classes": list(data.classes),
        "n_train_images": len(data.image_ids),
        "resolution": cfg.network.resolution,
        "conditional": cfg.network.conditional,
    }
    # Every rank checks (read-only), so a refusal stops all ranks instead of leaving them waiting.
    end = total_nimg(build_phases(cfg.network, cfg.schedule))
    stage = begin_stage(
        out,
        cfg,
        [dataset],
        name="gan train",
        force=force,
        resumable=True,
        resume=resume,
        may_change=may_change,
        check=lambda d: _check_resume(d, run_info),
    )
    if stage.is_done:
        ckpt = list_checkpoints(out)
        return TrainResult(
            out, end / 1000, end / 1000, True, ckpt[-1] if ckpt else out, info.rank, reused=True
        )
    barrier(info)  # all ranks have checked before rank 0 creates the directory
    if stage.is_new and info.is_main:
        # The run directory appears complete with its config, or not at all.
        with stage.write() as tmp:
            stage.provenance = _write_run_files(tmp, run_info, data)
    barrier(info)
    device = resolve_device(cfg.runtime.device, info)

    def report(event: dict) -> None:  # status.json follows the run tick by tick (kill -9 too)
        if "tick_stats" in event:
            _write_status(out, info, "running", trainer.cur_nimg, end, trainer.train_seconds)
        if progress:
            progress(event)

    trainer = Trainer(cfg, data, out, info, device, report if info.is_main else None)
    if not stage.is_new and list_checkpoints(out):
        path = latest_checkpoint(out)
        state = load_checkpoint(path, device)
        check_compatible(
            path,
            state["config"]["network"],
            cfg.model_dump(mode="json")["network"],
            state["classes"],
            list(data.classes),
        )
        trainer.load_state_dict(state)
        log.info("resumed from %s at kimg %.1f", path.name, trainer.cur_nimg / 1000)
    if not stage.is_new and info.is_main:  # ticks logged after the checkpoint come again
        truncate_stats(out, trainer.cur_nimg)
    if stage.changed and info.is_main:  # after the checks: nothing is rewritten on a refusal
        stage.continued()
        log.info("resuming with changed keys: %s", ", ".join(stage.changed))
    _write_status(out, info, "running", trainer.cur_nimg, end)
    writer = _tensorboard(out, cfg, info)
    try:
        trainer.run(None if stop_at_kimg is None else round(stop_at_kimg * 1000), writer)
    finally:
        if writer is not None:
            writer.close()
    done = trainer.cur_nimg >= end or trainer.out_of_time
    _write_status(
        out,
        info,
        DONE if done else "stopped",
        trainer.cur_nimg,
        end,
        trainer.train_seconds,
        trainer.out_of_time,
        _device_name(device, info),
    )
    barrier(info)
    ckpt = list_checkpoints(out)[-1] if info.is_main else out
    return TrainResult(
        out,
        trainer.cur_nimg / 1000,
        end / 1000,
        done,
        ckpt,
        info.rank,
        out_of_time=trainer.out_of_time,
    )


def _write_run_files(out: Path, run_info: dict, data) -> dict[str, Any]:
    """run.json and train_images.csv; return the provenance's inputs."""
    (out / RUN_JSON).write_text(json.dumps(run_info, indent=2) + "\n")
    with open(out / "train_images.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image_id", "label", "source_sha256"])
        for image_id, label, sha in zip(data.image_ids, data.labels.tolist(), data.source_sha256):
            w.writerow([image_id, data.classes[label], sha])
    return {
        "dataset": {
            "path": run_info["dataset"],
            "sha256": run_info["dataset_fingerprint"],
            "train_split": run_info["train_split_fingerprint"],
        }
    }


def _check_resume(out: Path, run_info: dict) -> None:
    saved = read_run_info(out)
    if saved.get("train_split_fingerprint") != run_info["train_split_fingerprint"]:
        raise DataError(
            f"{out}: was trained on other data than {run_info['dataset']} "
            "(train split fingerprint differs)"
        )
    if saved.get("classes") != run_info["classes"]:
        raise DataError(
            f"{out}: was trained on classes {saved.get('classes')}, not {run_info['classes']}"
        )


def _write_status(
    out: Path,
    info: DistInfo,
    state: str,
    cur_nimg: int,
    end: int,
    train_seconds: float | None = None,
    out_of_time: bool = False,
    device: str | None = None,
) -> None:
    if not info.is_main:
        return
    extra: dict[str, Any] = {"device": device} if device else {}
    if train_seconds is not None:
        extra["train_minutes"] = round(train_seconds / 60, 3)
    if out_of_time:
        extra["stopped_by"] = "schedule.max_minutes"
    write_status(out, state, kimg=cur_nimg / 1000, total_kimg=end / 1000, **extra)


def _device_name(device: torch.device, info: DistInfo) -> str:
    """What trained the run, for the records: the GPU's name (x processes) or the CPU threads."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{info.world_size} x {name}" if info.world_size > 1 else name
    threads = torch.get_num_threads()
    name = f"CPU, {threads} thread{'s' if threads > 1 else ''}"
    return f"{name} x {info.world_size} processes" if info.world_size > 1 else name


def _tensorboard(out: Path, cfg: GanConfig, info: DistInfo):
    if not (cfg.log.tensorboard and info.is_main):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning(
            "tensorboard is not installed: no TensorBoard logs (stats.jsonl is still written)"
        )
        return None
    return SummaryWriter(str(out / "tensorboard"))
