"""Output directories: written atomically, replaced only when lesiongan wrote them, locked while
a process writes into them.

- **Atomic.** :func:`atomic_output_dir` writes under a temporary name and renames when complete,
  so an interrupted or failed stage leaves nothing that looks like a finished output.
- **Replace only what this tool wrote.** An existing output is replaced only with ``force`` and
  only when :func:`check_replaceable` agrees: the directory holds a lesiongan stage (its
  ``provenance.json`` or ``run.json``) and nothing else than the entries that stage recorded
  (``provenance.json``'s ``outputs``, kept up to date by :func:`record_outputs`), or it is empty;
  never the current directory or one of its parents, and never an input of the stage.
- **One writer.** :func:`stage_lock` holds an advisory file lock (``filelock``) beside the
  directory, ``.NAME.lock``, for as long as a process writes into it; a second process is told
  ``DIR: in use by PID N since T``. The operating system drops the lock when its process dies
  (SIGKILL included), so a stale lock frees itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from lesiongan.errors import LesionganError, OutputExistsError

PROVENANCE_FILE, RUN_JSON = "provenance.json", "run.json"  # what marks a stage directory
OUTPUTS_KEY = "outputs"  # provenance.json: the top-level entries the stage wrote


def check_output_dir(out: Path, inputs: Iterable[Path] = (), force: bool = False) -> None:
    """Refuse an output that exists (without ``force``, or that ``force`` may not replace) or
    that overlaps an input in any direction."""
    check_overlap(out, inputs)
    if Path(out).resolve().exists() or Path(out).is_symlink():
        if not force:
            raise OutputExistsError(f"{out}: already exists (use --force to replace it)")
        check_replaceable(out)


def check_overlap(out: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output that is, holds or is inside one of the inputs."""
    out_r = Path(out).resolve()
    for inp in inputs:
        inp_r = Path(inp).resolve()
        if out_r == inp_r or inp_r in out_r.parents or out_r in inp_r.parents:
            raise LesionganError(
                f"{out}: output directory overlaps the input {inp}; "
                "a stage never writes into its inputs"
            )


def check_replaceable(out: Path) -> None:
    """Raise unless ``--force`` may remove the existing ``out`` (see the module docstring)."""
    out_r = Path(out).resolve()
    cwd = Path.cwd().resolve()
    if out_r == cwd or out_r in cwd.parents:
        raise OutputExistsError(
            f"{out}: is the current directory or one of its parents; --force never removes it "
            "(choose another output directory)"
        )
    if not out_r.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    entries = sorted(out_r.iterdir(), key=lambda p: p.name)
    if not entries:
        return
    if not any((out_r / m).is_file() for m in (PROVENANCE_FILE, RUN_JSON)):
        raise OutputExistsError(
            f"{out}: holds {_describe(entries)} and no {PROVENANCE_FILE} or {RUN_JSON}, so "
            "lesiongan did not write it; --force replaces only lesiongan's own outputs "
            "(remove it yourself, or choose another output directory)"
        )
    recorded = set(_recorded_outputs(out_r)) | {PROVENANCE_FILE, RUN_JSON}
    foreign = [
        p
        for p in entries
        if p.name not in recorded and not _is_our_temporary(p.name) and not _only_stages(p)
    ]
    if foreign:
        raise OutputExistsError(
            f"{out}: holds {_describe(foreign)}, which the lesiongan stage there did not write; "
            "--force replaces only lesiongan's own outputs (move them away, or choose another "
            "output directory)"
        )


def check_holds_only(out: Path, allowed: Iterable[str], owner: str) -> None:
    """Refuse a directory of several stages (``--force`` redoes them one by one) that holds
    entries other than ``allowed`` and lesiongan's temporaries and locks, naming them."""
    out_r = Path(out).resolve()
    if not out_r.is_dir():
        return
    names = set(allowed)
    foreign = sorted(
        (p for p in out_r.iterdir() if p.name not in names and not _is_our_temporary(p.name)),
        key=lambda p: p.name,
    )
    if foreign:
        raise OutputExistsError(
            f"{out}: holds {_describe(foreign)}, which {owner} did not write; --force redoes "
            f"only {owner}'s own stages there (move them away, or choose another output "
            "directory)"
        )


def _describe(entries: list[Path], limit: int = 4) -> str:
    names = [f"{p.name}/" if p.is_dir() and not p.is_symlink() else p.name for p in entries]
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _only_stages(path: Path, depth: int = 3) -> bool:
    """A directory that is a lesiongan stage, or holds only such directories (an experiment's
    runs made after its last record, e.g. when it was killed)."""
    if path.is_symlink() or not path.is_dir():
        return False
    if any((path / m).is_file() for m in (PROVENANCE_FILE, RUN_JSON)):
        return True
    children = [c for c in path.iterdir() if not _is_our_temporary(c.name)]
    return depth > 0 and bool(children) and all(_only_stages(c, depth - 1) for c in children)


def _is_our_temporary(name: str) -> bool:
    """``.NAME.tmp-…`` / ``.NAME.old-…`` (atomic writes) and ``.NAME.lock`` (stage locks)."""
    return name.startswith(".") and (".tmp-" in name or ".old-" in name or name.endswith(".lock"))


def _recorded_outputs(out: Path) -> list[str]:
    try:
        data = json.loads((out / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = data.get(OUTPUTS_KEY) if isinstance(data, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def record_outputs(out: Path) -> None:
    """Add ``out``'s top-level entries to its ``provenance.json`` (``outputs``), so that a later
    ``--force`` knows they are this stage's. Nothing happens without a provenance file."""
    out = Path(out)
    path = out / PROVENANCE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {p.name for p in out.iterdir() if not _is_our_temporary(p.name)}
    except (OSError, ValueError):
        return
    if not isinstance(data, dict):
        return
    merged = sorted(set(_recorded_outputs(out)) | names)
    if merged != data.get(OUTPUTS_KEY):
        with contextlib.suppress(OSError):  # a read-only finished directory keeps its record
            write_text_atomic(path, json.dumps({**data, OUTPUTS_KEY: merged}, indent=2) + "\n")


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID-…`` / ``.NAME.old-…`` siblings whose writer process is gone."""
    out = Path(out)
    parent = out.resolve().parent if out.parent.exists() else None
    removed: list[Path] = []
    if parent is None:
        return removed
    for p in parent.glob(f".{out.name}.*"):
        kind, _, rest = p.name[len(out.name) + 2 :].partition("-")
        if kind not in ("tmp", "old"):
            continue
        pid = rest.split("-")[0]
        if kind == "tmp" and pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the lock ------------------------------------------------------------------------------

from lesiongan.utils.locks import (  # noqa: E402,F401 (re-exported: the stage lock)
    holds_lock,
    lock_file,
    stage_lock,
    stale_lock,
)


@contextlib.contextmanager
def atomic_output_dir(
    out: Path, inputs: Iterable[Path] = (), force: bool = False
) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; rename it to ``out`` when the block succeeds.

    ``out``'s lock is held for the block. On any exception (including KeyboardInterrupt) the
    temporary directory is removed and an existing ``out`` is left untouched.
    """
    out = Path(out)
    check_output_dir(out, inputs, force)
    with stage_lock(out):
        check_output_dir(out, inputs, force)  # again, now that no other process writes there
        with _temporary(out) as tmp:
            yield tmp
            if (tmp / PROVENANCE_FILE).is_file():
                record_outputs(tmp)
            final = out.resolve()
            if final.exists():
                old = final.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)


@contextlib.contextmanager
def _temporary(out: Path) -> Iterator[Path]:
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a file is in the way" if exc.errno in (errno.EEXIST, errno.ENOTDIR) else None
        raise LesionganError(
            f"{parent}: cannot create output parent directory ({reason or exc.strerror})"
        ) from None
    tmp = parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise LesionganError(f"{parent}: cannot create the output ({exc.strerror})") from None
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and _is_write_failure(exc, tmp):
            raise LesionganError(
                f"{out}: cannot write the output ({exc.strerror or exc}); nothing was written"
            ) from None
        raise


def _is_write_failure(exc: OSError, tmp: Path) -> bool:
    """A failure to write below ``tmp`` (or a full/read-only disk, which names no file)."""
    if exc.filename is None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
    return Path(os.fsdecode(exc.filename)).is_relative_to(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file under a temporary name in the same directory, then rename it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # named after the file meant (a full disk's write names no file)
        tmp.unlink(missing_ok=True)
        if exc.filename is None or os.fsdecode(exc.filename) == str(tmp):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def overwrite_in_place(path: Path, text: str) -> bool:
    """Rewrite an existing file in place, where :func:`write_text_atomic` failed (a full disk
    refuses a new file; the old file's own space usually takes a short text). Not atomic."""
    try:
        with open(path, "r+", encoding="utf-8") as f:
            f.write(text)
            f.truncate()
        return True
    except OSError:
        return False
