"""A resumable stage's ``status.json`` (``running`` / ``stopped`` / ``failed`` / ``done`` plus
progress fields), and the decorator that runs such a stage holding its directory's lock and
records how it ended."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lesiongan.errors import LesionganError
from lesiongan.utils.outdir import (
    overwrite_in_place,
    record_outputs,
    stage_lock,
    stale_lock,
    write_text_atomic,
)

log = logging.getLogger(__name__)

RUNNING, FAILED, STOPPED = "running", "failed", "stopped"
STATUS_FILE = "status.json"
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["KILLED_REASON", "locked_stage", "mark_ended", "read_status", "write_status"]


def read_status(path: Path) -> dict[str, Any]:
    """``status.json`` of a resumable stage (empty when it has none).

    A ``running`` status whose process is gone (killed: its lock is stale, see
    :func:`lesiongan.utils.outdir.stale_lock`) reads as ``stopped``, with the reason."""
    try:
        data = json.loads((Path(path) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and data.get("state") == RUNNING and stale_lock(path):
        return {**data, "state": STOPPED, "reason": KILLED_REASON}
    return data if isinstance(data, dict) else {}


KILLED_REASON = (
    "its process ended without saying why (killed, or its machine stopped); run the same "
    "command again to continue from the last saved state (with --resume for gan/classify train)"
)


def write_status(path: Path, state: str, **fields: Any) -> None:
    """Atomically write ``status.json``: ``{"state": state, **fields}``; record the directory's
    entries as the stage's own (see :func:`lesiongan.utils.outdir.record_outputs`)."""
    write_text_atomic(Path(path) / STATUS_FILE, json.dumps({"state": state, **fields}) + "\n")
    record_outputs(Path(path))


def locked_stage(param: str = "out") -> Callable[[F], F]:
    """Decorate a resumable stage's entry point: it runs holding the lock of the directory given
    as ``param`` (:func:`stage_lock`), and a run that raises leaves ``status.json`` saying
    ``failed`` (or ``stopped`` when interrupted) with the reason, never ``running``. A call
    refused before it wrote the status (another config, an unfinished run without --resume, a
    directory --force may not replace) leaves the directory's status as it was."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            out = Path(signature.bind(*args, **kwargs).arguments[param])
            with stage_lock(out):
                before = _status_stamp(out)
                try:
                    return fn(*args, **kwargs)
                except BaseException as exc:
                    if _status_stamp(out) != before:  # this process ran it: a refusal did not
                        mark_ended(out, exc)
                    raise

        return run  # type: ignore[return-value]

    return decorate


def _status_stamp(out: Path) -> tuple[int, int] | None:
    """Identifies the status file's version (each write replaces the file)."""
    try:
        st = os.stat(Path(out) / STATUS_FILE)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def mark_ended(out: Path, exc: BaseException) -> None:
    """A run that raised: ``status.json`` ``running`` becomes ``failed`` (``stopped`` on Ctrl-C)
    with the reason; other states are kept. Only the process that holds the lock writes."""
    status = read_status(out)
    if status.get("state") != RUNNING or int(os.environ.get("RANK", "0") or 0) != 0:
        return
    interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
    reason = "interrupted" if interrupted else (str(exc) or type(exc).__name__)
    if not interrupted and not isinstance(exc, LesionganError):
        reason = f"{type(exc).__name__}: {reason}"
    fields = {k: v for k, v in status.items() if k not in ("state", "reason")}
    state = STOPPED if interrupted else FAILED
    try:
        write_status(out, state, **fields, reason=reason)
    except OSError:  # a full disk refuses a new file; the old one's own space usually takes it
        text = json.dumps({"state": state, **fields, "reason": reason}) + "\n"
        if not overwrite_in_place(Path(out) / STATUS_FILE, text):
            log.warning("%s: cannot record the failure in %s", out, STATUS_FILE)
