"""Feature matrices of image sets, cached on disk and reused across audits.

An entry is keyed by the image set's fingerprint (the SHA-256 of its files' bytes, in order,
plus the size they are read at) and the extractor's id, so the real images of a dataset are
embedded once per extractor and reused by every audit that reads them at that size: realism,
memorization, every point of the generators' training curve, every experiment. A moved or
renamed dataset hits the cache; a changed file misses it.

Location: ``cache`` when given; else ``$LESIONGAN_CACHE/features/audit``, else
``~/.cache/lesiongan/features/audit`` (see :func:`lesiongan.backbones.features.default_cache_dir`);
``"off"`` disables it. Each entry is ``<key>.npy`` (float32 N x D, written atomically) and
``<key>.json`` (the fingerprint, extractor and image ids it holds). An entry whose record does
not match the images asked for is refused in one line (it was copied or edited by hand);
deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from lesiongan.errors import DataError
from lesiongan.evaluate.features import FeatureExtractor, compute_features
from lesiongan.evaluate.images import ImageSet, read_images
from lesiongan.utils.parallel import ProgressFn

log = logging.getLogger(__name__)
OFF = "off"


def resolve_cache_dir(cache: str | Path | None) -> Path | None:
    """``cache`` as a directory: None -> the default location, ``"off"`` -> no cache."""
    if cache is not None and str(cache) == OFF:
        return None
    if cache is not None:
        return Path(cache)
    from lesiongan.backbones.features import default_cache_dir

    return default_cache_dir() / "audit"


def entry_path(cache_dir: Path, images: ImageSet, size_px: int, extractor_id: str) -> Path:
    key = hashlib.sha256(f"{images.fingerprint(size_px)}:{extractor_id}".encode()).hexdigest()
    return Path(cache_dir) / f"{key[:32]}.npy"


def _check(path: Path, images: ImageSet, size_px: int, extractor: FeatureExtractor) -> None:
    """One line when the entry's record names other images or another extractor."""
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no record (an older entry): the shape check below still applies
    want = images.fingerprint(size_px)
    if meta.get("fingerprint") != want or meta.get("features") != extractor.id:
        raise DataError(
            f"{path}: feature cache entry holds {meta.get('n')} images with fingerprint "
            f"{str(meta.get('fingerprint'))[:12]} ({meta.get('features')}), not those of "
            f"{images.name} ({want[:12]}, {extractor.id}); delete it"
        )


def cached_features(
    extractor: FeatureExtractor,
    images: ImageSet,
    size_px: int,
    cache_dir: Path | None,
    batch_size: int = 64,
    pixels: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Features (N x D) of ``images`` read at ``size_px``: from ``cache_dir`` when there, else
    computed (from ``pixels`` when given) and stored."""
    path = entry_path(cache_dir, images, size_px, extractor.id) if cache_dir else None
    if path is not None and path.is_file():
        _check(path, images, size_px, extractor)
        try:
            feats = np.load(path)
        except (OSError, ValueError):
            feats = None  # a damaged entry is recomputed
        if feats is not None:
            if feats.shape != (len(images), extractor.dim):
                raise DataError(
                    f"{path}: feature cache entry has shape {feats.shape}, expected "
                    f"{(len(images), extractor.dim)} for {images.name}; delete it"
                )
            log.info("features of %s from cache %s", images.name, path)
            return feats
    if pixels is None:
        pixels = read_images(images, size_px)
    feats = compute_features(extractor, pixels, batch_size, progress)
    if path is not None:
        _save(path, feats, images, size_px, extractor)
    return feats


def _save(
    path: Path, feats: np.ndarray, images: ImageSet, size_px: int, extractor: FeatureExtractor
) -> None:
    """Atomic: a reader sees the whole matrix or none; an unwritable cache costs time only."""
    meta = {
        "fingerprint": images.fingerprint(size_px),
        "features": extractor.id,
        "size_px": size_px,
        "n": len(images),
        "set": images.name,
        "ids_sha256": hashlib.sha256("\n".join(images.ids).encode()).hexdigest(),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        tmp = path.with_name(f".{path.stem}.tmp-{pid}.npy")
        np.save(tmp, feats)
        meta_tmp = path.with_name(f".{path.stem}.tmp-{pid}.json")
        meta_tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
        os.replace(meta_tmp, path.with_suffix(".json"))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("feature cache %s not written (%s)", path.parent, exc)
