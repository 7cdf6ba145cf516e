"""GAN checkpoints: plain dicts saved atomically, loaded safely, checked against the config.

A checkpoint carries its config (nanoGPT style), the networks, optimizer states, the augment
probability and every RNG state, so that ``--resume`` continues exactly. Files are written to a
temporary name and renamed, and loaded with ``weights_only=True`` (no code runs on load).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from lesiongan.gan.families import parse_network
from lesiongan.utils.state import StateFileError, load_state, save_state

FORMAT = "lesiongan-gan-checkpoint-v1"
CKPT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d{10})\.pt$")


class CheckpointError(StateFileError):
    """A checkpoint is missing, corrupt, or does not match the run's configuration."""


def checkpoint_path(run_dir: Path, cur_nimg: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"ckpt-{cur_nimg:010d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    d = Path(run_dir) / CKPT_DIR
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if _NAME.match(p.name)), key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(
            f"{Path(run_dir) / CKPT_DIR}: no checkpoint found (is this a 'gan train' run?)"
        )
    return found[-1]


def save_checkpoint(path: Path, state: dict[str, Any], keep: int | None = None) -> None:
    """Atomic, self-describing (format tag + config); keep only the newest ``keep`` files."""
    path = Path(path)
    payload = {k: v for k, v in state.items() if k != "config"}
    save_state(path, FORMAT, payload, state.get("config"))
    if keep is not None:
        for old in list_checkpoints(path.parent.parent)[:-keep]:
            old.unlink(missing_ok=True)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return load_state(path, FORMAT, map_location)
    except StateFileError as exc:
        raise CheckpointError(
            str(exc).replace(f"not a {FORMAT} file", "not a lesiongan GAN checkpoint")
        ) from None


def check_compatible(
    path: Path, saved_network: dict, network: dict, saved_classes: list, classes: list
) -> None:
    """The networks in the checkpoint must be the ones this config builds (``arch`` included).

    Both ``network`` sections are read as their family's config (:func:`parse_network`), so a
    key missing from an older checkpoint's config counts as its default (the value that version
    used) and an older flat section migrates; the family's sampling-only keys
    (``NetworkConfig.SAMPLING_KEYS``) may differ.
    """
    try:
        saved_cfg = parse_network(saved_network)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise CheckpointError(
            f"{path}: its network config is not one this version reads ({str(exc).splitlines()[0]})"
        ) from None
    saved, now = saved_cfg.model_dump(mode="json"), parse_network(network).model_dump(mode="json")
    diff = [
        k
        for k in sorted(set(saved) | set(now))
        if k not in type(saved_cfg).SAMPLING_KEYS and saved.get(k) != now.get(k)
    ]
    if diff:
        k = diff[0]
        raise CheckpointError(
            f"{path}: checkpoint network has {k}={saved.get(k)!r} "
            f"but the config says {now.get(k)!r}"
        )
    if list(saved_classes) != list(classes):
        raise CheckpointError(
            f"{path}: checkpoint classes {saved_classes} differ from the dataset's {classes}"
        )
