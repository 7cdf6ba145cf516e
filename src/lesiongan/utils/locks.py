"""The lock of a stage directory: one process works in it at a time; a lock left by a killed
process frees itself (``flock``), and a stale one can be told from a live one."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lesiongan.errors import InUseError

PROVENANCE_FILE, RUN_JSON = "provenance.json", "run.json"  # what marks a stage directory
_WAIT_S = 0.5  # how long a process waits for a lock before it is told who holds it
_HELD: dict[Path, list[Any]] = {}  # resolved directory -> [FileLock or None, depth]
_HELD_GUARD = threading.Lock()


def lock_file(out: Path) -> Path:
    out_r = Path(out).resolve()
    return out_r.parent / f".{out_r.name}.lock"


@contextlib.contextmanager
def stage_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the block; raise :class:`InUseError` when another process holds it.

    Re-entrant within a process (a stage inside an experiment, a stage that opens its own
    directory twice). Only rank 0 of a ``torchrun`` job locks: the other ranks are the same run.
    Where the lock file cannot be created (an unwritable parent), the block runs unlocked and
    the stage reports its own write error.
    """
    key = Path(out).resolve()
    if int(os.environ.get("RANK", "0") or 0) != 0:
        yield
        return
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    lock, created = _acquire(key, out)
    with _HELD_GUARD:
        _HELD[key] = [lock, 1]
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        # nothing is recorded here: a refused or reusing process wrote nothing, and a file the
        # user added to a finished directory must stay foreign (only :func:`record_outputs`'s
        # callers, which just wrote the directory, record its entries)
        _release(key, lock, created)


def holds_lock(out: Path) -> bool:
    """Whether this process holds ``out``'s lock."""
    return Path(out).resolve() in _HELD


def stale_lock(out: Path) -> bool:
    """Whether ``out``'s lock file is left by a process that is gone (SIGKILL, a crash, a
    stopped machine): the file exists and no process holds its lock. False when a process holds
    it, when there is no lock file, and when this cannot be told (no ``flock`` there)."""
    if holds_lock(out):
        return False
    try:
        import fcntl

        fd = os.open(lock_file(out), os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a holder's LOCK_EX refuses this
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _acquire(key: Path, shown: Path) -> tuple[Any, list[Path]]:
    from filelock import FileLock, Timeout

    path = lock_file(key)
    created = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None, []
    for _ in range(5):
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=_WAIT_S)  # not 0: a stale_lock() reader holds it a moment
        except Timeout:
            _remove_empty(created)
            raise InUseError(
                f"{shown}: in use by {_holder(path)}; wait for it to end, or stop it"
            ) from None
        except OSError:  # a read-only parent: the stage itself says why it cannot write
            _remove_empty(created)
            return None, []
        if _same_file(lock, path):
            break
        lock.release()  # the previous holder unlinked that file as it finished: take the new one
    else:
        return None, created
    with contextlib.suppress(OSError):
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with open(path, "r+", encoding="utf-8") as f:
            f.truncate()
            f.write(f"{os.getpid()}\n{now}\n")
    return lock, created


def _same_file(lock: Any, path: Path) -> bool:
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    try:
        st = os.stat(path)
        if fd is None:
            return True
        mine = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _holder(path: Path) -> str:
    try:
        pid, since = path.read_text(encoding="utf-8").split()[:2]
        return f"PID {int(pid)} since {since}"
    except (OSError, ValueError):
        return "another process"


def _release(key: Path, lock: Any, created: list[Path]) -> None:
    if lock is not None:
        with contextlib.suppress(OSError):
            lock_file(key).unlink()  # while still holding it: a waiter then sees a new file
        lock.release()
    _remove_empty(created)


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first
        try:
            d.rmdir()
        except OSError:
            return


# -- atomic writes -------------------------------------------------------------------------
