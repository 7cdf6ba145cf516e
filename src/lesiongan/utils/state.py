"""Self-describing state files (checkpoints, resume files, models): a format tag and the config,
written to a temporary name and renamed, loaded with ``weights_only=True`` (no code runs on load).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lesiongan.errors import LesionganError

__all__ = ["StateFileError", "load_state", "save_state"]


class StateFileError(LesionganError):
    """A state file (checkpoint, resume file, model) is missing, corrupt or of another kind."""


def save_state(path: Path, fmt: str, payload: Mapping[str, Any], config: Any = None) -> None:
    """Save a self-describing state file atomically: ``{"format", "config", **payload}``.

    ``config`` (a pydantic model or a plain dict) is stored as plain data, so the file says what
    produced it. Written to a temporary name in the same directory, then renamed.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(config, BaseModel):
        config = config.model_dump(mode="json")
    state = {"format": fmt, **payload}
    if config is not None:
        state["config"] = config
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        reason = _write_failure(exc, path.parent)
        if reason:
            raise StateFileError(
                f"{path}: cannot be written ({reason}); the files written before are kept: make "
                "room, then run the same command again (with --resume for a training run)"
            ) from None
        raise


_TORCH_WRITE_FAILURES = ("write", "inline_container", "iostream error")
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES}


def _write_failure(exc: BaseException, where: Path) -> str | None:
    """Why a state file could not be written, when the disk is to blame (else None: a bug).
    torch's own writer reports a full disk as a RuntimeError without an errno (``file write
    failed``, ``[enforce fail at inline_container.cc] unexpected pos`` or, as it ends the file,
    ``basic_ios::clear: iostream error``)."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return exc.strerror or str(exc)
    text = str(exc).lower()
    if isinstance(exc, RuntimeError) and any(w in text for w in _TORCH_WRITE_FAILURES):
        try:
            free = shutil.disk_usage(where).free / 2**20
        except OSError:
            return "the write failed: is the disk full?"
        return f"the write failed with {free:,.0f} MB free there: is the disk or a quota full?"
    return None


def load_state(path: Path, fmt: str | tuple[str, ...], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a file written by :func:`save_state` (no code runs on load) and check its format."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path}: no such file")
    if "cuda" in str(map_location) and not torch.cuda.is_available():
        raise LesionganError(
            f"{path}: cannot be loaded onto {map_location}: no CUDA GPU is available here "
            "(use the cpu device)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise StateFileError(
            f"{path}: not readable (corrupt or truncated: {type(exc).__name__})"
        ) from None
    formats = (fmt,) if isinstance(fmt, str) else fmt
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise StateFileError(f"{path}: not a {formats[0]} file (format {found!r})")
    return state
