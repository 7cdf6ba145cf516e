"""The prepared-dataset format: ``manifest.csv`` and ``dataset.json`` (see DESIGN.md).

``manifest.csv`` has the contract columns first, in this order, then extra columns:
``image_id,label,split,path,source_path,source_sha256,width,height,group_id,source_width,source_height``.
``path`` is relative to the dataset directory. Later stages load a dataset only through
[`load_dataset`][], which checks the contract and names the file in every error.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
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


def load_dataset(root: Path, check_files: bool = True) -> PreparedDataset:
    """Load and validate a prepared dataset directory."""
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
    rows = _read_manifest(manifest, set(info["classes"]))
    if check_files:
        for r in rows:
            if not (root / r.path).is_file():
                raise DataError(f"{manifest}: image {r.image_id}: file {r.path} is missing")
    return PreparedDataset(root, rows, info)


def dataset_fingerprint(root: Path) -> str:
    """Fingerprint of a prepared dataset: the hash of its manifest."""
    return sha256_file(Path(root) / MANIFEST)


def _read_manifest(path: Path, classes: set[str]) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
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
            seen.add(r.image_id)
            rows.append(r)
    return rows


def row_dict(row: ManifestRow) -> dict[str, Any]:
    return asdict(row)
