"""The prepared-dataset format: ``manifest.csv`` and ``dataset.json`` (see DESIGN.md).

``manifest.csv`` has the contract columns first, in this order, then extra columns:
``image_id,label,split,path,source_path,source_sha256,width,height,group_id,source_width,source_height,file_sha256``.
``path`` is relative to the dataset directory and stays inside it (no absolute path, no ``..``:
[`is_confined`][], the rule of synthetic manifests too); ``file_sha256`` is the hash of the
prepared file at ``path`` (empty in datasets written before it existed). Later stages load a
dataset only through [`load_dataset`][], which checks the contract, the files against their
hashes and ``dataset.json``'s split fingerprints against the manifest, and names the file and
the row in every error.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from lesiongan.errors import DataError
from lesiongan.utils.hashing import fingerprint_lines, sha256_file

MANIFEST = "manifest.csv"
DATASET_JSON = "dataset.json"
CONTRACT_COLUMNS = (
    "image_id",
    "label",
    "split",
    "path",
    "source_path",
    "source_sha256",
    "width",
    "height",
)
FORMAT_NAME = "lesiongan-dataset-v1"


@dataclass(frozen=True)
class ManifestRow:
    """One row of a prepared ``manifest.csv``; ``path`` is relative to the dataset directory."""

    image_id: str
    label: str
    split: str
    path: str
    source_path: str
    source_sha256: str
    width: int
    height: int
    group_id: str = ""
    source_width: int = 0
    source_height: int = 0
    file_sha256: str = ""  # of the prepared file at ``path`` ("" in older datasets: not checked)


COLUMNS = tuple(f.name for f in fields(ManifestRow))
_INT_COLUMNS = {f.name for f in fields(ManifestRow) if f.type in ("int", int)}


@dataclass
class PreparedDataset:
    """A prepared dataset directory, loaded and checked."""

    root: Path
    rows: list[ManifestRow]
    info: dict[str, Any]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.info["classes"])

    def split_rows(self, split: str) -> list[ManifestRow]:
        return [r for r in self.rows if r.split == split]

    def image_path(self, row: ManifestRow) -> Path:
        return self.root / row.path


def manifest_text(rows: list[ManifestRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([getattr(r, c) for c in COLUMNS])
    return buf.getvalue()


def split_fingerprint(rows: list[ManifestRow], split: str) -> str:
    """Fingerprint of the source images in one split (what the leakage guard compares)."""
    return fingerprint_lines(r.source_sha256 for r in rows if r.split == split)


def build_dataset_info(
    rows: list[ManifestRow], classes: tuple[str, ...], image_size: int, seed: int, **extra: Any
) -> dict[str, Any]:
    splits = [s for s in ("train", "val", "test") if any(r.split == s for r in rows)]
    counts = {
        s: {c: sum(1 for r in rows if r.split == s and r.label == c) for c in classes}
        for s in splits
    }
    return {
        "format": FORMAT_NAME,
        "classes": list(classes),
        "counts": counts,
        "n_images": len(rows),
        "image_size": image_size,
        "seed": seed,
        "split_fingerprints": {s: split_fingerprint(rows, s) for s in splits},
        **extra,
    }


def save_dataset(root: Path, rows: list[ManifestRow], info: dict[str, Any]) -> None:
    (root / MANIFEST).write_text(manifest_text(rows), encoding="utf-8")
    (root / DATASET_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def is_confined(rel: str) -> bool:
    """Whether a manifest's ``path`` stays inside its directory: relative, without ``..``.

    The rule reads the path as written, it does not resolve symbolic links: a link inside the
    dataset is part of the dataset as its writer made it (a scarcity fraction's ``images`` links
    to its parent's folder, and ``file_sha256`` still checks every file behind it). What the
    rule stops is a manifest row that names a place outside the directory."""
    posix = rel.replace("\\", "/")
    return (
        bool(rel)
        and not posix.startswith("/")
        and not PureWindowsPath(rel).drive
        and ".." not in PurePosixPath(posix).parts
    )


def load_dataset(root: Path, check_files: bool = True) -> PreparedDataset:
    """Load and validate a prepared dataset directory.

    Always: the contract columns, labels, splits, paths inside the dataset, and ``dataset.json``'s
    split fingerprints against the manifest (a manifest edited after ``data prepare`` is refused).
    ``check_files``: also every image file, and its ``file_sha256`` where the manifest records
    one. A file is hashed once per process while its size and modification time stay the same,
    so the stages and experiment cells that load one dataset many times pay for it once.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset directory")
    manifest, info_path = root / MANIFEST, root / DATASET_JSON
    for p in (manifest, info_path):
        if not p.is_file():
            raise DataError(
                f"{p}: missing (is {root} a directory written by 'lesiongan data prepare'?)"
            )
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{info_path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("classes"), list):
        raise DataError(f"{info_path}: expected an object with a 'classes' list")
    rows, lines = _read_manifest(manifest, set(info["classes"]))
    _check_fingerprints(info_path, info, rows)
    if check_files:
        for r, line in zip(rows, lines):
            where = f"{manifest}: line {line}: image {r.image_id}"
            if not (root / r.path).is_file():
                raise DataError(f"{where}: file {r.path} is missing")
            if r.file_sha256 and _file_hash(root / r.path) != r.file_sha256.lower():
                raise DataError(
                    f"{where}: file {r.path} does not match its recorded file_sha256 (changed "
                    "after 'data prepare'; prepare the dataset again)"
                )
    return PreparedDataset(root, rows, info)


def _check_fingerprints(info_path: Path, info: dict[str, Any], rows: list[ManifestRow]) -> None:
    saved = info.get("split_fingerprints")
    if not isinstance(saved, dict):
        return _check_counts(info_path, info, rows)  # written before fingerprints existed
    for split in sorted(set(saved) | {r.split for r in rows}):
        if saved.get(split) != split_fingerprint(rows, split):
            raise DataError(
                f"{info_path}: split_fingerprints.{split} does not match {MANIFEST} (its {split} "
                "rows were changed after 'data prepare'; prepare the dataset again)"
            )
    _check_counts(info_path, info, rows)


def _check_counts(info_path: Path, info: dict[str, Any], rows: list[ManifestRow]) -> None:
    """``counts`` against the manifest: a label edited after ``data prepare`` (which the split
    fingerprints, hashes of the source images, do not see) is refused."""
    saved = info.get("counts")
    if not isinstance(saved, dict):
        return
    found = Counter((r.split, r.label) for r in rows)
    for split in sorted(set(saved) | {r.split for r in rows}):
        per_class = saved.get(split) if isinstance(saved.get(split), dict) else {}
        for c in info["classes"]:
            n = found[split, c]
            if per_class.get(c, 0) != n:
                raise DataError(
                    f"{info_path}: counts.{split}.{c} is {per_class.get(c, 0)} but {MANIFEST} "
                    f"has {n} (its labels were changed after 'data prepare'; prepare the "
                    "dataset again)"
                )


_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, this process


def _file_hash(path: Path) -> str:
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def dataset_fingerprint(root: Path) -> str:
    """Fingerprint of a prepared dataset: the hash of its manifest."""
    return sha256_file(Path(root) / MANIFEST)


def _read_manifest(path: Path, classes: set[str]) -> tuple[list[ManifestRow], list[int]]:
    rows: list[ManifestRow] = []
    lines: list[int] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in CONTRACT_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            values = {c: row.get(c) or "" for c in COLUMNS}
            try:
                for c in _INT_COLUMNS:
                    values[c] = int(values[c] or 0)
            except ValueError:
                raise DataError(f"{path}: line {line}: width/height must be integers") from None
            r = ManifestRow(**values)
            if r.image_id in seen:
                raise DataError(f"{path}: line {line}: duplicate image_id {r.image_id!r}")
            if r.label not in classes:
                raise DataError(
                    f"{path}: line {line}: label {r.label!r} is not one of the dataset's classes"
                )
            if r.split not in ("train", "val", "test"):
                raise DataError(
                    f"{path}: line {line}: split must be train, val or test, got {r.split!r}"
                )
            if not is_confined(r.path):
                raise DataError(
                    f"{path}: line {line}: image {r.image_id}: path {r.path!r} must stay inside "
                    f"{path.parent} (a relative path without '..')"
                )
            seen.add(r.image_id)
            rows.append(r)
            lines.append(line)
    return rows, lines


def row_dict(row: ManifestRow) -> dict[str, Any]:
    return asdict(row)
