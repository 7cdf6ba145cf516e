"""CSV reading shared by the readers: header checks and row numbers in every message."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from lesiongan.data.source import SourceDataset


def read_label_csv(
    ds: SourceDataset, path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a label CSV, recording header problems in ``ds``.

    Missing required columns make the whole file unusable (one problem, no rows). Unknown
    columns are a problem too (a changed file format must not be read silently), but the rows
    are still read so the remaining problems can be reported in the same run.
    """
    ds.files.append(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            yield from _rows(ds, path, f, required, optional)
    except OSError as exc:
        ds.add_problem(path, f"cannot read ({exc.strerror})", "bad_csv")


def _rows(
    ds: SourceDataset, path: Path, f: TextIO, required: tuple[str, ...], optional: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(f)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except (csv.Error, UnicodeDecodeError) as exc:
        ds.add_problem(path, f"not a readable CSV ({exc})", "bad_csv")
        return
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        ds.add_problem(
            path, f"missing column(s) {', '.join(missing)} (header: {','.join(header)})", "bad_csv"
        )
        return
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        ds.add_problem(path, f"unknown column(s) {', '.join(unknown)}", "unknown_columns")
    try:
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # blank line
            if None in row:
                ds.add_problem(path, f"line {line}: more fields than columns", "bad_row")
                continue
            yield line, {k: (v or "").strip() for k, v in row.items()}
    except (csv.Error, UnicodeDecodeError) as exc:
        ds.add_problem(path, f"line {reader.line_num}: unreadable CSV ({exc})", "bad_csv")


def parse_binary(value: str) -> int | None:
    """``"1"``, ``"1.0"`` -> 1; ``"0"``, ``"0.0"`` -> 0; anything else -> None."""
    try:
        f = float(value)
    except ValueError:
        return None
    if f == 1.0:
        return 1
    if f == 0.0:
        return 0
    return None


def index_images(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Map file stem -> path for the image files directly inside ``folder``."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."):
            out[p.stem] = p
    return out
