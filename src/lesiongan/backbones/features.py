"""Frozen-backbone features of image files, over dihedral views, cached on disk.

Computed once per (image files, backbone + weights, input size, view) and reused by every
consumer: the classifier's cached-feature path (one head per experiment cell instead of one
network), and the audit's ImageNet features. The cache key is the sha256 of the files' own
sha256s plus the spec, so a renamed or moved dataset hits the cache and a changed file misses it.

Views are the 8 symmetries of the square (the dihedral group D4): lesions have no canonical
orientation, so these are free augmentations and test-time views. View 0 is the image itself.

Cache location: ``cache_dir`` when given, else ``$LESIONGAN_CACHE/features``, else
``~/.cache/lesiongan/features``. Entries are ``<key>.npy`` (float32, views x N x D) written
atomically, plus ``<key>.json`` (what they are, with each row's file sha256: a set of files whose
features were cached as part of another set, e.g. a fraction of a dataset or its held-out images,
copies those rows instead of computing them). Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lesiongan.backbones.registry import build_backbone, get_backbone, normalize
from lesiongan.data.images import read_prepared_job
from lesiongan.errors import LesionganError
from lesiongan.utils.hashing import sha256_file
from lesiongan.utils.parallel import parallel_map

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int], None]
CACHE_ENV = "LESIONGAN_CACHE"
N_VIEWS = 8
MAX_SIZE = 1024


def dihedral(x: torch.Tensor, view: int) -> torch.Tensor:
    """View ``view`` (0-7) of N x C x H x W images: ``view % 4`` quarter turns, then a
    left-right flip when ``view >= 4``."""
    if not 0 <= view < N_VIEWS:
        raise ValueError(f"view must be in [0, {N_VIEWS}), got {view}")
    out = torch.rot90(x, view % 4, dims=(2, 3)) if view % 4 else x
    return out.flip(3) if view >= 4 else out


@dataclass(frozen=True)
class FeatureSpec:
    """Which features: a pretrained backbone, the input size images are read at, the views."""

    backbone: str
    image_size: int
    views: int = 1  # the first ``views`` dihedral views

    def __post_init__(self) -> None:
        spec = get_backbone(self.backbone)  # unknown names fail here
        if not spec.min_size <= self.image_size <= MAX_SIZE:
            raise LesionganError(
                f"image size {self.image_size}: {self.backbone} takes {spec.min_size} to "
                f"{MAX_SIZE} px"
            )
        if not 1 <= self.views <= N_VIEWS:
            raise LesionganError(f"views {self.views}: choose 1 to {N_VIEWS}")

    @property
    def id(self) -> str:
        """Names the features exactly: network, weights, input size, views."""
        return f"{get_backbone(self.backbone).id}:{self.image_size}px:{self.views}v"


def default_cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "lesiongan") / "features"


def files_fingerprint(paths: Sequence[Path]) -> str:
    """The sha256 over the files' contents, in order (not their names or places)."""
    return _fingerprint([sha256_file(p) for p in paths])


@torch.no_grad()
def extract(
    net: torch.nn.Module,
    images: torch.Tensor,
    spec: FeatureSpec,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """uint8 N x 3 x S x S images -> float32 ``views x N x D`` features (eval mode)."""
    net.eval()
    device = next(net.parameters()).device
    n, dim = images.shape[0], get_backbone(spec.backbone).feature_dim
    out = np.empty((spec.views, n, dim), dtype=np.float32)
    steps, done = spec.views * max(1, -(-n // batch_size)), 0
    for start in range(0, n, batch_size):
        x = images[start : start + batch_size].to(device).float().div_(255.0)
        x = normalize(x, spec.backbone)
        for v in range(spec.views):
            feats = net.forward_features(dihedral(x, v))  # type: ignore[operator]
            out[v, start : start + len(x)] = feats.float().cpu().numpy()
            done += 1
            if progress:
                progress(done, steps)
    return out


def file_features(
    paths: Sequence[Path],
    spec: FeatureSpec,
    cache_dir: Path | None = None,
    device: torch.device | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    net: torch.nn.Module | Callable[[], torch.nn.Module] | None = None,
) -> np.ndarray:
    """Features (``views x N x D``) of image files read at ``spec.image_size``, from the cache
    when there, else computed with the backbone's ImageNet weights and cached.

    ``net``: the backbone to compute with, or a function returning it (called only when the
    cache misses); None builds it then."""
    paths = [Path(p) for p in paths]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digests = [sha256_file(p) for p in paths]
    fingerprint = _fingerprint(digests)
    key = hashlib.sha256(f"{fingerprint}:{spec.id}".encode()).hexdigest()[:40]
    path = cache / f"{key}.npy"
    meta = {"spec": spec.id, "n": len(paths), "files": fingerprint, "digests": digests}
    if path.is_file():
        known = _check_entry(path, fingerprint, spec)
        try:
            feats = np.load(path)
        except (OSError, ValueError):
            feats = None  # a damaged entry is recomputed
        if feats is not None and feats.shape[:2] == (spec.views, len(paths)):
            log.info("features of %d images from cache %s", len(paths), path)
            if not known.get("digests"):  # an entry from before rows were indexed
                _write_meta(path, {**known, **meta})
            return feats
    if not paths:
        return np.zeros((spec.views, 0, get_backbone(spec.backbone).feature_dim), np.float32)
    dim = get_backbone(spec.backbone).feature_dim
    feats = np.zeros((spec.views, len(paths), dim), np.float32)
    # rows of these very files already computed for another set (a subset of a dataset, held-out
    # images): copied, not computed again
    missing = _rows_from_cache(cache, spec, digests, feats)
    if missing:
        todo = [paths[i] for i in missing]
        jobs = [(str(p), spec.image_size) for p in todo]
        images = torch.from_numpy(np.stack(parallel_map(read_prepared_job, jobs, workers)))
        if net is None:
            net = build_backbone(spec.backbone, "imagenet").to(device or torch.device("cpu"))
        elif not isinstance(net, torch.nn.Module):
            net = net()
        feats[:, missing] = extract(net, images, spec, progress=progress)
    log.info("features of %d images: %d computed", len(paths), len(missing))
    _save(path, feats, meta)
    return feats


def _fingerprint(digests: Sequence[str]) -> str:
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def _rows_from_cache(
    cache: Path, spec: FeatureSpec, digests: list[str], feats: np.ndarray
) -> list[int]:
    """Fill ``feats``' rows whose file (by content) is in a cached entry of the same spec;
    return the indices of the rows still missing."""
    want: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        want.setdefault(d, []).append(i)
    for meta_path in sorted(cache.glob("*.json")) if cache.is_dir() else []:
        if not want:
            break
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        rows = meta.get("digests") or []
        hits = [(j, d) for j, d in enumerate(rows) if d in want]
        if meta.get("spec") != spec.id or not hits:
            continue
        try:
            entry = np.load(meta_path.with_suffix(".npy"), mmap_mode="r")
        except (OSError, ValueError):
            continue
        if entry.shape[:2] != (spec.views, len(rows)):
            continue
        for j, d in hits:
            if d in want:
                for i in want.pop(d):
                    feats[:, i] = entry[:, j]
    return sorted(i for rows in want.values() for i in rows)


def _check_entry(path: Path, fingerprint: str, spec: FeatureSpec) -> dict:
    """A cache entry whose record names other image files or another spec is refused: it was
    built from another dataset (or copied in by hand), and its features would be silently
    wrong."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}  # no record (an entry from before records were kept, or a partial write)
    files, made = meta.get("files"), meta.get("spec")
    if (files is not None and files != fingerprint) or (made is not None and made != spec.id):
        raise LesionganError(
            f"{path}: cached features of other images or another network (files "
            f"{str(files)[:12]}..., spec {made}; expected {fingerprint[:12]}..., {spec.id}); "
            "delete the entry"
        )
    return meta


def _save(path: Path, feats: np.ndarray, meta: dict) -> None:
    """Atomic: a reader sees the whole matrix or none (parallel writers of one key agree)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npy")
        np.save(tmp, feats)
        os.replace(tmp, path)
    except OSError as exc:  # an unwritable cache costs time, not results
        log.warning("feature cache %s not written (%s)", path.parent, exc)
        return
    _write_meta(path, meta)


def _write_meta(path: Path, meta: dict) -> None:
    """The entry's record (its spec, files and each row's file sha256), written atomically."""
    try:
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.json")
        tmp.write_text(json.dumps(meta) + "\n")
        os.replace(tmp, path.with_suffix(".json"))
    except OSError as exc:
        log.warning("feature cache %s not written (%s)", path.parent, exc)
