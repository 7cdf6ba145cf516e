"""``lesiongan data prepare``: validate, resize and split a source dataset into a prepared one.

All images are decoded in full; problems from the reader and from decoding are gathered and
reported together. Without ``skip_bad`` any problem aborts the stage and nothing is written;
with it, the affected images (or classes) are left out and listed in ``skipped.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from lesiongan.config import Config, Seed
from lesiongan.data.decode import DecodeResult, DecodeTask, ProgressFn, decode_all
from lesiongan.data.manifest import DATASET_JSON, ManifestRow, build_dataset_info, save_dataset
from lesiongan.data.readers import read_source
from lesiongan.data.source import Problem, SourceDataset, SourceImage
from lesiongan.data.splits import stratified_group_split
from lesiongan.errors import DataError, ProblemsFound
from lesiongan.utils.hashing import fingerprint_lines, sha256_file
from lesiongan.utils.stage import begin_stage

log = logging.getLogger(__name__)

# Problems that make a whole label file unusable: no flag can skip them.
FATAL_KINDS = {"bad_csv"}


class PrepareConfig(Config):
    """Options of ``data prepare`` (saved as ``config.yaml`` in the output)."""

    size: int = Field(256, ge=8, le=4096, description="side of the square output images, px")
    split: Literal["poster", "official"] = "poster"
    test_fraction: float = Field(0.4, gt=0.0, lt=1.0, description="test share for --split poster")
    test_split: str = Field(
        "test",
        description="--split official: the source split that becomes the test split (e.g. val "
        "for ISIC 2017 without its test images: train on all training images, test on val)",
    )
    seed: Seed = 0
    format: str = "auto"
    skip_bad: bool = False


@dataclass
class PrepareResult:
    out: Path
    format: str
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    skipped: list[Problem]
    reused: bool = False  # an equal finished dataset was there; nothing was read


def run_prepare(
    source: Path,
    out: Path,
    config: PrepareConfig,
    force: bool = False,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    on_source: Callable[[SourceDataset], None] | None = None,
) -> PrepareResult:
    """Prepare ``source`` into ``out`` (or reuse an equal finished one)."""
    source, out = Path(source), Path(out)
    stage = begin_stage(out, config, [source], name="data prepare", force=force)
    if stage.is_done:  # decided before the slow part
        info = json.loads((out / DATASET_JSON).read_text(encoding="utf-8"))
        classes = tuple(info["classes"])
        return PrepareResult(out, info["source_format"], classes, info["counts"], [], True)
    ds = read_source(source, config.format)
    if on_source:
        on_source(ds)
    fatal = [p for p in ds.problems if p.kind in FATAL_KINDS]
    if fatal:
        raise ProblemsFound(
            f"{source}: {len(fatal)} unusable label file(s); nothing was written", fatal
        )
    pool = _select_pool(ds, config.split)
    _check_test_split(ds, config)
    with stage.write() as tmp:
        tasks = [DecodeTask(im.path, config.size, tmp / _rel_path(im)) for im in pool]
        results = decode_all(tasks, workers, progress)
        problems = list(ds.problems)
        good: list[tuple[SourceImage, DecodeResult]] = []
        for im, res in zip(pool, results):
            if res.ok:
                good.append((im, res))
            else:
                problems.append(Problem(im.path, res.message, res.kind, im.image_id))
        group_of = _merge_identical_files(good)
        classes, split_of, split_problems = _assign_splits(
            ds, [im for im, _ in good], group_of, config
        )
        problems += split_problems
        if problems and not config.skip_bad:
            raise ProblemsFound(
                f"{source}: {len(problems)} problem(s) found; nothing was written "
                "(fix them, or use --skip-bad to leave the affected images out)",
                problems,
            )
        rows = []
        for im, res in good:
            if im.label not in classes:
                (tmp / _rel_path(im)).unlink()
                continue
            rows.append(
                ManifestRow(
                    image_id=im.image_id,
                    label=im.label,
                    split=split_of[im.image_id],
                    path=_rel_path(im).as_posix(),
                    source_path=im.path.relative_to(source).as_posix(),
                    source_sha256=res.sha256,
                    width=config.size,
                    height=config.size,
                    group_id=group_of[im.image_id],
                    source_width=res.width,
                    source_height=res.height,
                    file_sha256=sha256_file(tmp / _rel_path(im)),
                )
            )
        if not rows:
            raise DataError(f"{source}: no usable images left")
        rows.sort(key=lambda r: r.image_id)
        source_splits = sorted({im.split for im in pool})
        info = build_dataset_info(
            rows,
            classes,
            config.size,
            config.seed,
            split=config.split,
            test_fraction=config.test_fraction if config.split == "poster" else None,
            source_format=ds.format,
            source_root=str(source.resolve()),
            source_splits=source_splits,
            skipped=len(problems),
        )
        save_dataset(tmp, rows, info)
        if problems:
            (tmp / "skipped.csv").write_text(_problems_csv(problems), encoding="utf-8")
        stage.provenance = {"source": _source_fingerprint(ds, rows, source)}
    return PrepareResult(out, ds.format, classes, info["counts"], problems)


def _select_pool(ds: SourceDataset, split: str) -> list[SourceImage]:
    """The images that take part. ``poster`` re-splits the source's training split (all images
    when the source has no training split); ``official`` keeps every split as it is."""
    if not ds.images:
        raise ProblemsFound(f"{ds.root}: no labelled images found", ds.problems)
    if split == "official":
        if len(ds.splits) < 2 or "train" not in ds.splits:
            raise DataError(
                f"{ds.root}: --split official needs a train split and at least one other, but this "
                f"{ds.format} source has only: {', '.join(ds.splits)} (use --split poster)"
            )
        return list(ds.images)
    if "train" in ds.splits:
        return [im for im in ds.images if im.split == "train"]
    return list(ds.images)


def _check_test_split(ds: SourceDataset, config: PrepareConfig) -> None:
    if config.test_split == "test":
        return
    if config.split != "official":
        raise DataError(f"test_split {config.test_split!r}: applies to --split official only")
    if config.test_split not in ds.splits or config.test_split == "train":
        have = ", ".join(s for s in ds.splits if s != "train") or "none"
        raise DataError(
            f"{ds.root}: test_split {config.test_split!r}: not a split of this source besides "
            f"train (it has: {have})"
        )
    if "test" in ds.splits:
        raise DataError(
            f"{ds.root}: has a test split already; test_split {config.test_split!r} would merge "
            "two splits into one"
        )


def _assign_splits(
    ds: SourceDataset, images: list[SourceImage], group_of: dict[str, str], config: PrepareConfig
) -> tuple[tuple[str, ...], dict[str, str], list[Problem]]:
    """Split assignment, and the classes that survive (a class empty in any split is a problem)."""
    if config.split == "official":
        rename = {config.test_split: "test"} if config.test_split != "test" else {}
        split_of = {im.image_id: rename.get(im.split, im.split) for im in images}
    else:
        mask = stratified_group_split(
            [im.label for im in images],
            [group_of[im.image_id] for im in images],
            config.test_fraction,
            config.seed,
        )
        split_of = {im.image_id: ("test" if m else "train") for im, m in zip(images, mask)}
    problems: list[Problem] = []
    splits = sorted(set(split_of.values()), key=("train", "val", "test").index)
    keep = []
    for cls in ds.classes:
        n = {
            s: sum(1 for im in images if im.label == cls and split_of[im.image_id] == s)
            for s in splits
        }
        empty = [s for s in splits if n[s] == 0]
        if sum(n.values()) == 0:
            if any(im.label == cls for im in ds.images):  # else the reader reported it already
                problems.append(
                    Problem(ds.root, f"class {cls!r} has no usable images", "empty_class")
                )
        elif empty:
            problems.append(
                Problem(
                    ds.root,
                    f"class {cls!r} has no images in split(s) {', '.join(empty)} "
                    f"({sum(n.values())} usable in all)",
                    "empty_class",
                )
            )
        else:
            keep.append(cls)
    if len(keep) < 2 and config.skip_bad:
        raise ProblemsFound(f"{ds.root}: fewer than two usable classes left", problems)
    return tuple(keep), split_of, problems


def _merge_identical_files(good: list[tuple[SourceImage, DecodeResult]]) -> dict[str, str]:
    """image_id -> split group. Byte-identical files under different ids (common across ISIC
    releases) join one group, so a copy can never sit in train while its twin is in test."""
    parent: dict[str, str] = {}

    def find(g: str) -> str:
        while parent.get(g, g) != g:
            g = parent[g]
        return g

    first_group: dict[str, str] = {}
    for im, res in good:
        other = first_group.setdefault(res.sha256, im.group)
        a, b = find(im.group), find(other)
        if a != b:
            parent[max(a, b)] = min(a, b)  # deterministic representative
    return {im.image_id: find(im.group) for im, _ in good}


def _rel_path(im: SourceImage) -> Path:
    return Path("images") / im.label / f"{im.image_id}.png"


def _problems_csv(problems: list[Problem]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "image_id", "kind", "message"])
    for p in problems:
        w.writerow([str(p.path), p.image_id or "", p.kind, p.message])
    return buf.getvalue()


def _source_fingerprint(ds: SourceDataset, rows: list[ManifestRow], source: Path) -> dict[str, str]:
    label_files = [
        f"{p.relative_to(source).as_posix()} {sha256_file(p)}" for p in ds.files if p.is_file()
    ]
    images = [f"{r.source_path} {r.source_sha256}" for r in rows]
    return {
        "path": str(source.resolve()),
        "format": ds.format,
        "sha256": fingerprint_lines(label_files + images),
    }
