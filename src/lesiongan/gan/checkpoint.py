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

from lesiongan.gan.config import NetworkConfig
from lesiongan.utils.stage import StateFileError, load_state, save_state

FORMAT = "lesiongan-gan-checkpoint-v1"
CKPT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d{10})\.pt$")
# Network keys that only change how a trained network is sampled, not its weights.
SAMPLING_KEYS = frozenset({"truncation_psi"})


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

    A key missing from an older checkpoint's config counts as its default (the value that
    version used); sampling-only keys (:data:`SAMPLING_KEYS`) may differ.
    """
    defaults = NetworkConfig().model_dump(mode="json")
    saved_network, network = {**defaults, **saved_network}, {**defaults, **network}
    diff = [
        k
        for k in sorted(set(saved_network) | set(network))
        if k not in SAMPLING_KEYS and saved_network.get(k) != network.get(k)
    ]
    if diff:
        k = diff[0]
        raise CheckpointError(
            f"{path}: checkpoint network has {k}={saved_network.get(k)!r} "
            f"but the config says {network.get(k)!r}"
        )
    if list(saved_classes) != list(classes):
        raise CheckpointError(
            f"{path}: checkpoint classes {saved_classes} differ from the dataset's {classes}"
        )
