"""Readers of source datasets, and auto-detection of the layout.

Each reader is ``read_<format>(root) -> SourceDataset``; :func:`read_source` picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lesiongan.data.readers.folder import looks_like_folder, read_folder
from lesiongan.data.readers.ham10000 import looks_like_ham10000, read_ham10000
from lesiongan.data.readers.isic2017 import looks_like_isic2017, read_isic2017
from lesiongan.data.readers.isic_onehot import looks_like_isic_onehot, read_isic_onehot
from lesiongan.data.source import SourceDataset, check_duplicate_ids
from lesiongan.errors import DataError

__all__ = ["FORMATS", "detect_format", "read_source"]

# Order matters: the CSV-based layouts are recognised by their file names before the generic
# class-folder layout (whose test "has sub-folders with images" the others would also pass).
_READERS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], SourceDataset]]] = {
    "isic2017": (looks_like_isic2017, read_isic2017),
    "ham10000": (looks_like_ham10000, read_ham10000),
    "isic-onehot": (looks_like_isic_onehot, read_isic_onehot),
    "folder": (looks_like_folder, read_folder),
}
FORMATS = tuple(_READERS)


def detect_format(root: Path) -> str:
    """Name of the layout found at ``root``; a DataError when none matches."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such directory")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    for name, (looks_like, _) in _READERS.items():
        if looks_like(root):
            return name
    raise DataError(
        f"{root}: no known dataset layout (expected ISIC 2017, HAM10000, ISIC 2018/2019 "
        "ground-truth CSVs, or one sub-folder of images per class)"
    )


def read_source(root: Path, format: str | None = None) -> SourceDataset:
    """Read a source dataset (auto-detected unless ``format`` is given); problems are recorded."""
    root = Path(root)
    if format is None or format == "auto":
        format = detect_format(root)
    elif format not in _READERS:
        raise DataError(f"{root}: unknown format {format!r} (choose from {', '.join(FORMATS)})")
    elif not root.is_dir():
        raise DataError(f"{root}: no such directory")
    ds = _READERS[format][1](root)
    check_duplicate_ids(ds)
    return ds
