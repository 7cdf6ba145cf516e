"""The synthetic image directory format (``gan sample`` output, or any folder that follows
DESIGN.md's ``synthetic/manifest.csv`` contract): one definition for its writer and readers,
and the leakage guard.

A synthetic directory holds:

```text
manifest.csv            one row per image: MANIFEST_COLUMNS (+ select_score when selected);
                        d_score empty when the generator has no discriminator
images/<class>/<id>.png
synthetic.json          which GAN, checkpoint, dataset and train split; counts; selection
gan_train_images.csv    source_sha256 of every image the GAN saw (the leakage guard)
real_scores.csv         D's scores of the GAN's real training images (soft labels; optional)
preview.png, config.yaml, provenance.json
```

``d_score`` (the discriminator's raw score) is a required column whose cells may be empty: a
generator family without a discriminator writes a valid directory with no scores, and what needs
them (soft labels) refuses it through :func:`require_d_scores`. A cell that is given must be a
finite number.

Leakage guard (DESIGN.md): a classifier is never evaluated on images that the GAN behind its
synthetic data was trained on. The synthetic directory carries ``gan_train_images.csv`` (the
``source_sha256`` of every image the GAN saw); [`check_leakage`][] refuses a test split that
shares any of them. Without that file the guard cannot run, so loading refuses the directory.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesiongan.data.manifest import ManifestRow, is_confined
from lesiongan.errors import DataError, LesionganError

FORMAT = "lesiongan-synthetic-v1"
MANIFEST = "manifest.csv"
INFO = "synthetic.json"
GAN_TRAIN_IMAGES = "gan_train_images.csv"
REAL_SCORES = "real_scores.csv"
PREVIEW = "preview.png"
REQUIRED = ("image_id", "label", "path", "seed", "checkpoint_sha256", "d_score")
# what ``gan sample`` writes: the contract's columns, then where the image came from
MANIFEST_COLUMNS = (*REQUIRED, "resolution", "checkpoint_kimg")
SELECT_SCORE = "select_score"  # added when the images were selected (higher = kept first)
REAL_SCORE_COLUMNS = ("image_id", "label", "source_sha256", "d_score")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def normalize_sha256(value: str | None) -> str:
    """Lower-case hex without whitespace, or "" when the value is not a SHA-256."""
    v = (value or "").strip().lower()
    return v if _SHA256.match(v) else ""


class LeakageError(LesionganError):
    """The test split contains images the GAN was trained on."""


@dataclass(frozen=True)
class SyntheticRow:
    """One row of a synthetic ``manifest.csv``; ``path`` is relative to the directory."""

    image_id: str
    label: str
    path: str
    seed: int
    checkpoint_sha256: str
    d_score: float | None  # None: the generator has no discriminator
    select_score: float | None = None


@dataclass
class SyntheticSet:
    """A synthetic directory, loaded and checked: its rows, ``synthetic.json`` and the
    ``source_sha256`` of the GAN's training images (the leakage guard)."""

    root: Path
    rows: list[SyntheticRow]
    info: dict[str, Any] = field(default_factory=dict)
    gan_train_sha256: frozenset[str] = frozenset()
    # D's scores of the GAN's real training images (real_scores.csv), for soft labels; None
    # when the directory has none.
    real_scores: list[float] | None = None

    def image_path(self, row: SyntheticRow) -> Path:
        return self.root / row.path

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.label] = out.get(r.label, 0) + 1
        return out

    @property
    def has_d_scores(self) -> bool:
        """Every image has a discriminator score."""
        return all(r.d_score is not None for r in self.rows)


def require_d_scores(synthetic: SyntheticSet, what: str) -> None:
    """A one-line DataError unless every image has a ``d_score`` (``what`` needs them)."""
    missing = [r.image_id for r in synthetic.rows if r.d_score is None]
    if missing:
        arch = synthetic.info.get("arch")
        family = f" (generator family {arch!r} has no discriminator)" if arch else ""
        raise DataError(
            f"{synthetic.root / MANIFEST}: {len(missing)} image(s) have no d_score "
            f"(e.g. {missing[0]}){family}; {what} needs the discriminator's scores"
        )


def load_synthetic(root: Path, classes: tuple[str, ...] | None = None) -> SyntheticSet:
    """Load and check a synthetic directory; labels must be among ``classes`` when given."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such synthetic image directory")
    rows = _read_manifest(root / MANIFEST, classes)
    for r in rows:
        if not (root / r.path).is_file():
            raise DataError(f"{root / MANIFEST}: image {r.image_id}: file {r.path} is missing")
    info = read_info(root)
    real = _read_real_scores(root / REAL_SCORES) if (root / REAL_SCORES).is_file() else None
    return SyntheticSet(root, rows, info, _read_gan_train(root / GAN_TRAIN_IMAGES), real)


def check_leakage(test_rows: list[ManifestRow], synthetic: SyntheticSet) -> None:
    """Raise LeakageError when any test image was among the GAN's training images."""
    unhashed = [r.image_id for r in test_rows if not normalize_sha256(r.source_sha256)]
    if unhashed:
        raise LeakageError(
            f"refusing to evaluate: {len(unhashed)} test image(s) have no valid source_sha256 "
            f"(e.g. {unhashed[0]}), so the leakage guard cannot check them"
        )
    leaked = [
        r for r in test_rows if normalize_sha256(r.source_sha256) in synthetic.gan_train_sha256
    ]
    if leaked:
        examples = ", ".join(r.image_id for r in leaked[:5])
        raise LeakageError(
            f"{synthetic.root}: refusing to evaluate: {len(leaked)} test image(s) were in the "
            f"training set of the GAN behind these synthetic images (e.g. {examples}); train the "
            "GAN on this dataset's train split, or use the dataset the GAN was trained on"
        )


def _read_manifest(path: Path, classes: tuple[str, ...] | None) -> list[SyntheticRow]:
    if not path.is_file():
        raise DataError(f"{path}: missing (is {path.parent} a 'gan sample' output directory?)")
    rows: list[SyntheticRow] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            try:
                select, d_score = row.get(SELECT_SCORE), row["d_score"]
                r = SyntheticRow(
                    row["image_id"],
                    row["label"],
                    row["path"],
                    int(row["seed"]),
                    row["checkpoint_sha256"],
                    float(d_score) if d_score.strip() else None,
                    float(select) if select not in (None, "") else None,
                )
            except (ValueError, TypeError, AttributeError):  # a short row leaves cells as None
                raise DataError(
                    f"{path}: line {line}: seed must be an integer and d_score a number or "
                    f"empty (and {SELECT_SCORE} a number where given)"
                ) from None
            if r.d_score is not None and not math.isfinite(r.d_score):
                raise DataError(f"{path}: line {line}: d_score is not finite")
            if not is_confined(r.path):
                raise DataError(
                    f"{path}: line {line}: path {r.path!r} must stay inside {path.parent}"
                )
            if r.image_id in seen:
                raise DataError(f"{path}: line {line}: duplicate image_id {r.image_id!r}")
            if classes is not None and r.label not in classes:
                raise DataError(
                    f"{path}: line {line}: label {r.label!r} is not a dataset class "
                    f"({', '.join(classes)})"
                )
            seen.add(r.image_id)
            rows.append(r)
    if not rows:
        raise DataError(f"{path}: no synthetic images listed")
    return rows


def _read_gan_train(path: Path) -> frozenset[str]:
    if not path.is_file():
        raise DataError(
            f"{path}: missing; without the GAN's training images the leakage guard cannot run "
            "(a 'gan sample' directory carries it)"
        )
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "source_sha256" not in (reader.fieldnames or []):
            raise DataError(f"{path}: missing column source_sha256")
        hashes = []
        for row in reader:
            h = normalize_sha256(row.get("source_sha256"))
            if not h:
                raise DataError(f"{path}: line {reader.line_num}: not a SHA-256 in source_sha256")
            hashes.append(h)
    if not hashes:
        raise DataError(f"{path}: lists no images; the leakage guard would check nothing")
    return frozenset(hashes)


def _read_real_scores(path: Path) -> list[float]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "d_score" not in (reader.fieldnames or []):
            raise DataError(f"{path}: missing column d_score")
        scores = []
        for row in reader:
            try:
                value = float(row["d_score"])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise DataError(f"{path}: line {reader.line_num}: d_score is not a finite number")
            scores.append(value)
    if not scores:
        raise DataError(f"{path}: lists no scores")
    return scores


def read_info(root: Path) -> dict[str, Any]:
    """``synthetic.json`` of a directory ({} when absent); bad JSON is a one-line error."""
    path = Path(root) / INFO
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


class ManifestWriter:
    """Streams ``manifest.csv`` rows to disk (a sample of millions never sits in memory)."""

    def __init__(self, root: Path, selected: bool = False) -> None:
        self.columns = (*MANIFEST_COLUMNS, SELECT_SCORE) if selected else MANIFEST_COLUMNS
        self._file = open(Path(root) / MANIFEST, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self.columns)
        self.n = 0

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow([_cell(row.get(c)) for c in self.columns])
        self.n += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def write_info(root: Path, info: Mapping[str, Any]) -> None:
    """``synthetic.json`` with the format tag first."""
    data = {"format": FORMAT, **info}
    (Path(root) / INFO).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_real_scores(root: Path, rows: list[list[Any]]) -> None:
    """``real_scores.csv``: rows of REAL_SCORE_COLUMNS."""
    with open(Path(root) / REAL_SCORES, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(REAL_SCORE_COLUMNS)
        w.writerows(rows)


def image_relpath(label: str, image_id: str) -> str:
    """Where an image lives inside a synthetic directory (POSIX, relative)."""
    return f"images/{label}/{image_id}.png"
