"""Building a visual Turing test study: a balanced, seeded set of real and synthetic images.

A visual Turing test asks experts to tell real lesion images from GAN samples; the skin-lesion
GAN papers report one with dermatologists (e.g. Baur et al. 2018, "MelanoGANs"; Bissoto et al.
2018). The study must be blind: each class gets ``n_per_class`` real images (from a split the GAN
never saw: default ``test``, and any image whose hash is in the GAN's training list is dropped)
and ``n_per_class`` synthetic ones, chosen with a seeded generator. Every image is decoded,
centre-cropped to a square, resized to one common size (by default the smallest side among the
chosen images, so nothing is upsampled) and re-encoded identically: PNG with zlib level 0
(stored blocks) and no ancillary chunks. Every image of a study therefore has exactly the same
byte length and the same headers, so neither file size nor metadata can separate the sources.
Images are stored in the study database under random ids, in a seeded shuffled order.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import Field

from lesiongan.config import Config, Seed
from lesiongan.data.images import ImageProblem, load_rgb
from lesiongan.data.manifest import dataset_fingerprint, load_dataset
from lesiongan.data.synthetic import load_synthetic, normalize_sha256
from lesiongan.errors import DataError, OutputExistsError
from lesiongan.turing import db
from lesiongan.utils.hashing import sha256_file
from lesiongan.utils.parallel import ProgressFn
from lesiongan.utils.stage import begin_file_stage, locked_stage

log = logging.getLogger(__name__)


class StudyConfig(Config):
    n_per_class: int = Field(ge=1)
    seed: Seed = 0
    split: str = "test"
    size_px: int | None = Field(None, ge=8, le=2048)
    classes: list[str] | None = None
    raters: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Candidate:
    source: str
    label: str
    origin_id: str
    path: Path
    origin_path: str


@dataclass
class StudyInfo:
    db_path: Path
    admin_token: str
    raters: list[db.Rater]
    n_items: int
    size_px: int


def encode_image(img: Image.Image, size_px: int) -> bytes:
    """Centre-crop to a square, resize (Lanczos) and encode as metadata-free stored PNG."""
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    if w != h:
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if side != size_px:
        img = img.resize((size_px, size_px), Image.Resampling.LANCZOS)
    # a fresh image carries no info dict (no gamma, dpi, text or EXIF chunks)
    clean = Image.fromarray(np.asarray(img, dtype=np.uint8), mode="RGB")
    buf = io.BytesIO()
    clean.save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def select_candidates(
    dataset_dir: Path, synthetic_dir: Path, cfg: StudyConfig
) -> tuple[list[Candidate], dict[str, object]]:
    """The balanced seeded selection, and what was used (recorded in the study's meta)."""
    ds = load_dataset(dataset_dir)
    syn = load_synthetic(synthetic_dir, ds.classes)
    split_rows = ds.split_rows(cfg.split)
    if not split_rows:
        raise DataError(f"{dataset_dir}: no images in split {cfg.split!r}")
    unseen = [
        r for r in split_rows if normalize_sha256(r.source_sha256) not in syn.gan_train_sha256
    ]
    classes = list(cfg.classes) if cfg.classes else sorted({r.label for r in syn.rows})
    for c in classes:
        if c not in ds.classes:
            raise DataError(f"{dataset_dir}: class {c!r} is not one of {', '.join(ds.classes)}")
    rng = np.random.default_rng(cfg.seed)
    chosen: list[Candidate] = []
    n = cfg.n_per_class
    for c in classes:
        reals = sorted((r for r in unseen if r.label == c), key=lambda r: r.image_id)
        fakes = sorted((r for r in syn.rows if r.label == c), key=lambda r: r.image_id)
        if len(reals) < n:
            dropped = sum(1 for r in split_rows if r.label == c) - len(reals)
            raise DataError(
                f"{dataset_dir}: split {cfg.split!r} has only {len(reals)} {c} image(s) the GAN "
                f"never saw ({dropped} dropped as GAN training images); --n-per-class {n} "
                f"needs {n}"
            )
        if len(fakes) < n:
            raise DataError(
                f"{synthetic_dir}: only {len(fakes)} synthetic {c} image(s); "
                f"--n-per-class {n} needs {n}"
            )
        for i in rng.choice(len(reals), size=n, replace=False):
            r = reals[int(i)]
            chosen.append(Candidate("real", c, r.image_id, ds.image_path(r), r.path))
        for i in rng.choice(len(fakes), size=n, replace=False):
            s = fakes[int(i)]
            chosen.append(Candidate("synthetic", c, s.image_id, syn.image_path(s), s.path))
    order = rng.permutation(len(chosen))  # storage order never groups the sources
    used = {
        "dataset": str(Path(dataset_dir).resolve()),
        "dataset_fingerprint": dataset_fingerprint(dataset_dir),
        "synthetic": str(Path(synthetic_dir).resolve()),
        "synthetic_manifest_sha256": sha256_file(Path(synthetic_dir) / "manifest.csv"),
        "split": cfg.split,
        "classes": classes,
        "dataset_classes": list(ds.classes),
        "real_excluded_gan_train": len(split_rows) - len(unseen),
    }
    return [chosen[int(i)] for i in order], used


def _load_all(cands: list[Candidate], progress: ProgressFn | None) -> list[Image.Image]:
    images = []
    for k, c in enumerate(cands):
        try:
            img, _ = load_rgb(c.path)
        except ImageProblem as exc:
            raise DataError(f"{c.path}: {exc}") from None
        images.append(img)
        if progress:
            progress(k + 1, 2 * len(cands))
    return images


@locked_stage("db_path")  # one process writes a study file at a time
def run_create(
    dataset_dir: Path,
    synthetic_dir: Path,
    db_path: Path,
    cfg: StudyConfig,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> StudyInfo:
    """Write a new study database (atomically: built beside ``db_path``, then renamed)."""
    db_path = Path(db_path)
    inputs = (dataset_dir, synthetic_dir)
    begin_file_stage(
        db_path, inputs, force=force, what="study database", option="--db", check_ours=_a_study
    )
    names = [_check_name(db_path, name) for name in cfg.raters]
    if len(set(names)) != len(names):
        raise DataError("rater names must be unique")
    cands, used = select_candidates(dataset_dir, synthetic_dir, cfg)
    images = _load_all(cands, progress)
    size_px = cfg.size_px or min(min(im.size) for im in images)
    tmp = db_path.resolve().with_name(f".{db_path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        db.create_private_file(tmp)
        conn = db.connect(tmp)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DataError(f"{db_path}: cannot create the study database ({_reason(exc)})") from None
    meta = {**cfg.model_dump(mode="json"), **used, "size_px": size_px, "created_utc": db.now_utc()}
    try:
        db.create_schema(conn, meta)
        with db.transaction(conn):
            for k, (c, im) in enumerate(zip(cands, images)):
                data = encode_image(im, size_px)
                db.insert_item(conn, c.source, c.label, c.origin_id, c.origin_path, data)
                if progress:
                    progress(len(cands) + k + 1, 2 * len(cands))
        made = [db.add_rater(conn, name, cfg.seed) for name in cfg.raters]
        admin = db.get_meta(conn)["admin_token"]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        for suffix in ("-wal", "-shm"):  # an old study's journal must not meet the new file
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, db_path)
    except BaseException as exc:
        conn.close()
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        if isinstance(exc, (OSError, sqlite3.OperationalError)):  # disk full, read-only, ...
            raise DataError(
                f"{db_path}: cannot write the study database ({_reason(exc)}); nothing was written"
            ) from None
        raise
    log.info("study %s: %d images at %d px, %d raters", db_path, len(cands), size_px, len(made))
    return StudyInfo(db_path, admin, made, len(cands), size_px)


def _a_study(db_path: Path) -> None:
    if not db.is_study(db_path):
        raise OutputExistsError(
            f"{db_path}: exists and is not a lesiongan Turing study; --force replaces only a "
            "study (remove the file yourself, or choose another --db)"
        )


def _check_name(db_path: Path, name: str) -> str:
    try:
        return db.check_rater_name(name)
    except DataError as exc:
        raise DataError(f"{db_path}: {exc}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTDIR) and exc.filename:
        return f"{os.fsdecode(exc.filename)} is not a directory"
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def run_invite(db_path: Path, names: list[str]) -> list[db.Rater]:
    """Add raters to an existing study (works while the server runs)."""
    for name in names:  # every name is checked before any rater is added
        _check_name(db_path, name)
    conn = db.open_study(db_path)
    try:
        seed = int(db.get_meta(conn).get("seed", 0))
        return [db.add_rater(conn, name, seed) for name in names]
    except sqlite3.Error as exc:
        raise DataError(
            f"{db_path}: cannot add raters: the study cannot be written ({exc}); make the file "
            "and its directory writable by this user (or free disk space)"
        ) from None
    finally:
        conn.close()


def rater_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def admin_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/admin/{token}"
