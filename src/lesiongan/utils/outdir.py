"""Atomic output directories: written under a temporary name, renamed when complete.

An interrupted or failed stage leaves nothing that looks like a finished output. An existing
output is only replaced with ``force=True``, and never when it is (or holds, or is inside) one
of the stage's inputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from lesiongan.errors import LesionganError, OutputExistsError


def check_output_dir(out: Path, inputs: Iterable[Path] = (), force: bool = False) -> None:
    """Refuse an output that exists (without ``force``) or overlaps an input in any direction."""
    out_r = Path(out).resolve()
    for inp in inputs:
        inp_r = Path(inp).resolve()
        if out_r == inp_r or inp_r in out_r.parents or out_r in inp_r.parents:
            raise LesionganError(
                f"{out}: output directory overlaps the input {inp}; "
                "a stage never writes into its inputs"
            )
    if out_r.exists() or out_r.is_symlink():
        if not force:
            raise OutputExistsError(f"{out}: already exists (use --force to replace it)")
        if not out_r.is_dir():
            raise OutputExistsError(f"{out}: exists and is not a directory")


@contextlib.contextmanager
def atomic_output_dir(
    out: Path, inputs: Iterable[Path] = (), force: bool = False
) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; rename it to ``out`` when the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary directory is removed and an
    existing ``out`` is left untouched.
    """
    out = Path(out)
    check_output_dir(out, inputs, force)
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
    final = out.resolve()
    if final.exists():
        old = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _is_write_failure(exc: OSError, tmp: Path) -> bool:
    """A failure to write below ``tmp`` (or a full/read-only disk, which names no file)."""
    if exc.filename is None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
    return Path(os.fsdecode(exc.filename)).is_relative_to(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file under a temporary name in the same directory, then rename it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
