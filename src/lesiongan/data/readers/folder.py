"""A folder with one sub-folder of images per class, optionally below split folders.

``ROOT/<class>/*.jpg`` (one split, ``train``) or ``ROOT/<split>/<class>/*.jpg`` with split
folders named train/training, val/valid/validation, test/testing. The image id is the file
name without its suffix, so it must be unique across the whole tree.
"""

from __future__ import annotations

from pathlib import Path

from lesiongan.data.source import (
    IMAGE_SUFFIXES,
    SourceDataset,
    SourceImage,
    check_empty_classes,
    is_ignored_name,
)

_SPLIT_DIRS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def looks_like_folder(root: Path) -> bool:
    return any(_subdirs(root))


def read_folder(root: Path) -> SourceDataset:
    subdirs = _subdirs(root)
    split_layout = bool(subdirs) and all(d.name.lower() in _SPLIT_DIRS for d in subdirs)
    layers = (
        [(d, _SPLIT_DIRS[d.name.lower()]) for d in subdirs] if split_layout else [(root, "train")]
    )
    class_names = sorted({c.name for base, _ in layers for c in _subdirs(base)})
    ds = SourceDataset(format="folder", root=root, classes=tuple(class_names))
    for base, split in layers:
        _report_loose_files(ds, base)
        for class_dir in _subdirs(base):
            for p in sorted(class_dir.iterdir()):
                if is_ignored_name(p.name):
                    continue
                if p.is_dir():
                    ds.add_problem(
                        p, "nested folder inside a class folder (not read)", "unexpected_file"
                    )
                elif p.suffix.lower() not in IMAGE_SUFFIXES:
                    ds.add_problem(
                        p, f"not an image file (suffix {p.suffix or 'none'!r})", "unexpected_file"
                    )
                else:
                    ds.images.append(SourceImage(p.stem, class_dir.name, split, p, group=p.stem))
    check_empty_classes(ds, root)
    return ds


def _subdirs(path: Path) -> list[Path]:
    return [p for p in sorted(path.iterdir()) if p.is_dir() and not is_ignored_name(p.name)]


def _report_loose_files(ds: SourceDataset, base: Path) -> None:
    for p in sorted(base.iterdir()):
        if p.is_file() and not is_ignored_name(p.name) and p.suffix.lower() in IMAGE_SUFFIXES:
            ds.add_problem(p, "image outside a class folder (not read)", "unexpected_file")
