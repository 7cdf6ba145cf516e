"""``lesiongan data inspect``: what a source dataset holds and what is wrong with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lesiongan.data.decode import DecodeTask, ProgressFn, decode_all
from lesiongan.data.images import ImageProblem, read_image_info
from lesiongan.data.readers import read_source
from lesiongan.data.source import Problem


@dataclass
class InspectReport:
    root: Path
    format: str
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    n_images: int
    width_range: tuple[int, int] | None
    height_range: tuple[int, int] | None
    problems: list[Problem]
    decoded: bool


def run_inspect(
    source: Path,
    format: str | None = None,
    size_px: int = 256,
    decode: bool = True,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> InspectReport:
    """Read the layout and check every image (fully decoded unless ``decode`` is False, in which
    case only headers are read). Images smaller than ``size_px`` are reported."""
    ds = read_source(Path(source), format)
    problems = list(ds.problems)
    sizes: list[tuple[int, int]] = []
    if decode:
        results = decode_all([DecodeTask(im.path, size_px) for im in ds.images], workers, progress)
        for im, r in zip(ds.images, results):
            if r.width:
                sizes.append((r.width, r.height))
            if not r.ok:
                problems.append(Problem(im.path, r.message, r.kind, im.image_id))
    else:
        for i, im in enumerate(ds.images):
            try:
                info = read_image_info(im.path)
            except ImageProblem as exc:
                problems.append(Problem(im.path, str(exc), "corrupt_image", im.image_id))
            else:
                sizes.append((info.width, info.height))
                if min(info.width, info.height) < size_px:
                    problems.append(
                        Problem(
                            im.path,
                            f"image is {info.width}x{info.height}, smaller than the target size "
                            f"{size_px} px",
                            "too_small",
                            im.image_id,
                        )
                    )
            if progress:
                progress(i + 1, len(ds.images))
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return InspectReport(
        root=ds.root,
        format=ds.format,
        classes=ds.classes,
        counts=ds.counts(),
        n_images=len(ds.images),
        width_range=(min(widths), max(widths)) if widths else None,
        height_range=(min(heights), max(heights)) if heights else None,
        problems=problems,
        decoded=decode,
    )
