"""Decode (and optionally write) many source images in parallel worker processes.

Shared by ``data inspect`` (validate only) and ``data prepare`` (validate, resize, write PNG).
Results come back in input order, so outputs do not depend on the number of workers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lesiongan.data.images import ImageProblem, center_crop_resize, encode_png, load_rgb
from lesiongan.utils.hashing import sha256_bytes
from lesiongan.utils.parallel import ProgressFn, parallel_map


@dataclass(frozen=True)
class DecodeTask:
    source: Path
    size_px: int
    dest: Path | None = None  # where to write the prepared PNG; None = validate only


@dataclass(frozen=True)
class DecodeResult:
    source: Path
    ok: bool
    kind: str = ""
    message: str = ""
    sha256: str = ""
    width: int = 0
    height: int = 0


def decode_one(task: DecodeTask) -> DecodeResult:
    """Hash, fully decode and check one image; write the prepared version if asked."""
    try:
        data = task.source.read_bytes()
    except OSError as exc:
        return DecodeResult(task.source, False, "unreadable", f"cannot read file ({exc.strerror})")
    digest = sha256_bytes(data)
    try:
        im, info = load_rgb(io.BytesIO(data), min_side_px=task.size_px)
    except ImageProblem as exc:
        return DecodeResult(task.source, False, "corrupt_image", str(exc), digest)
    except Exception as exc:  # decoders raise odd types (struct.error, IndexError) on damaged files
        return DecodeResult(
            task.source,
            False,
            "corrupt_image",
            f"cannot decode image ({type(exc).__name__})",
            digest,
        )
    if min(info.width, info.height) < task.size_px:
        return DecodeResult(
            task.source,
            False,
            "too_small",
            f"image is {info.width}x{info.height}, smaller than the target size {task.size_px} px",
            digest,
            info.width,
            info.height,
        )
    if task.dest is not None:
        out = center_crop_resize(im, task.size_px)
        task.dest.parent.mkdir(parents=True, exist_ok=True)
        task.dest.write_bytes(encode_png(out))
    return DecodeResult(task.source, True, sha256=digest, width=info.width, height=info.height)


def decode_all(
    tasks: Sequence[DecodeTask], workers: int | None = None, progress: ProgressFn | None = None
) -> list[DecodeResult]:
    """Run :func:`decode_one` over ``tasks`` on ``workers`` processes, results in input order."""
    return parallel_map(decode_one, tasks, workers, progress)
