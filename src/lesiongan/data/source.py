"""What a reader returns: the images of a source dataset, their labels and splits, and problems.

Readers never raise on a bad row or file: they record a :class:`Problem` (one line that names the
file) and keep going, so that ``data inspect`` and ``data prepare`` can report everything at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Problem:
    """One problem with the input. ``kind`` is a short machine-readable tag."""

    path: Path
    message: str
    kind: str = "other"
    image_id: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class SourceImage:
    """One labelled image of a source dataset. ``group`` ties images of one lesion together."""

    image_id: str
    label: str
    split: str
    path: Path
    group: str


@dataclass
class SourceDataset:
    """A source dataset as read from disk, before any image is decoded."""

    format: str
    root: Path
    classes: tuple[str, ...]
    images: list[SourceImage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # label files read (CSVs), for fingerprints

    @property
    def splits(self) -> tuple[str, ...]:
        present = {im.split for im in self.images}
        return tuple(s for s in SPLITS if s in present)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {class: n}}`` with every class listed (zeros included)."""
        c = Counter((im.split, im.label) for im in self.images)
        return {s: {k: c[(s, k)] for k in self.classes} for s in self.splits}

    def add_problem(self, path: Path, message: str, kind: str, image_id: str | None = None) -> None:
        self.problems.append(Problem(Path(path), message, kind, image_id))


def is_ignored_name(name: str) -> bool:
    """Hidden files and OS litter that no reader should report."""
    return name.startswith(".") or name in {"Thumbs.db", "desktop.ini", "__MACOSX"}


def check_empty_classes(ds: SourceDataset, where: Path) -> None:
    """Record a problem for every declared class that has no image at all."""
    have = Counter(im.label for im in ds.images)
    for cls in ds.classes:
        if have[cls] == 0:
            ds.add_problem(where, f"class {cls!r} has no images", "empty_class")


def check_duplicate_ids(ds: SourceDataset) -> None:
    """Image ids must be unique across the whole source: they name the prepared files, and an
    image listed twice (say in train and test) would leak. Every copy of a duplicate is dropped."""
    by_id: dict[str, list[SourceImage]] = {}
    for im in ds.images:
        by_id.setdefault(im.image_id, []).append(im)
    keep: list[SourceImage] = []
    for image_id, ims in by_id.items():
        if len(ims) == 1:
            keep.append(ims[0])
            continue
        where = ", ".join(f"{im.split}:{im.path}" for im in ims)
        for im in ims:
            ds.add_problem(
                im.path, f"duplicate image id {image_id!r} ({where})", "duplicate_id", image_id
            )
    ds.images = keep
