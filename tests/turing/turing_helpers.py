"""Tiny study inputs written by hand (DESIGN.md contracts), a live server, a rater client."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from lesiongan.data.manifest import ManifestRow, build_dataset_info, save_dataset
from lesiongan.data.procedural import render_lesion

CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")


def _real_image(seed: int, size: int, label: str, lesions: bool) -> Image.Image:
    """High-entropy texture (compresses badly), or a procedural lesion."""
    rng = np.random.default_rng(seed)
    if lesions:
        return Image.fromarray(render_lesion(label, rng, size, size)[0])
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _synthetic_image(seed: int, size: int, label: str, lesions: bool) -> Image.Image:
    """Smooth gradient (compresses very well, so raw file sizes would give it away), or a
    softened procedural lesion standing in for a GAN sample."""
    if lesions:
        img = render_lesion(label, np.random.default_rng(10_000 + seed), size, size)[0]
        return Image.fromarray(img).filter(ImageFilter.GaussianBlur(0.7))
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 3 + seed, yy * 2 + seed, (xx + yy) + 2 * seed], axis=-1) % 256
    return Image.fromarray(base.astype(np.uint8))


def make_dataset(
    root: Path,
    n_test: int = 6,
    n_train: int = 4,
    size: int = 16,
    classes=CLASSES,
    lesions: bool = False,
) -> Path:
    """A prepared dataset directory: ``n_test`` + ``n_train`` PNGs per class."""
    rows = []
    k = 0
    for label in classes:
        for split, n in (("test", n_test), ("train", n_train)):
            for _ in range(n):
                image_id = f"IMG_{k:04d}"
                rel = f"images/{label}/{image_id}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                _real_image(k, size, label, lesions).save(root / rel)
                sha = hashlib.sha256(f"source-{k}".encode()).hexdigest()
                rows.append(
                    ManifestRow(image_id, label, split, rel, f"src/{image_id}.jpg", sha, size, size)
                )
                k += 1
    save_dataset(root, rows, build_dataset_info(rows, tuple(classes), size, seed=0))
    return root


def make_synthetic(
    root: Path,
    dataset: Path,
    n: int = 6,
    size: int = 24,
    labels=("melanoma", "nevus"),
    lesions: bool = False,
) -> Path:
    """A synthetic directory: JPEGs with EXIF and a comment, at another size than the reals."""
    from lesiongan.data.manifest import load_dataset

    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ["image_id,label,path,seed,checkpoint_sha256,d_score"]
    exif = Image.Exif()
    exif[0x0131] = "lesiongan-gan"  # Software tag: a give-away unless stripped
    i = 0
    for label in labels:
        for _ in range(n):
            rel = f"images/syn_{i:04d}.jpg"
            _synthetic_image(i, size, label, lesions).save(
                root / rel, format="JPEG", quality=95, exif=exif, comment=b"synthetic"
            )
            lines.append(f"syn_{i:04d},{label},{rel},{i},{'ab' * 32},{0.1 * i:.2f}")
            i += 1
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    train = load_dataset(dataset).split_rows("train")
    (root / "gan_train_images.csv").write_text(
        "image_id,label,source_sha256\n"
        + "".join(f"{r.image_id},{r.label},{r.source_sha256}\n" for r in train)
    )
    return root


def png_chunks(data: bytes) -> list[str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append(data[i + 4 : i + 8].decode("ascii"))
        i += 12 + n
    return out


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(db_path: Path, port: int | None = None) -> Iterator[str]:
    """Run the app under a real uvicorn server on loopback in a thread; yields the base URL."""
    import uvicorn

    from lesiongan.turing.app import build_app

    port = port or free_port()
    config = uvicorn.Config(
        build_app(db_path), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


_ITEM = re.compile(r'name="item" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def form_fields(html: str) -> tuple[str, str] | None:
    """(item, csrf) of a rating page, or None when the page has no rating form."""
    item, csrf = _ITEM.search(html), _CSRF.search(html)
    return None if item is None or csrf is None else (item.group(1), csrf.group(1))


def make_study(
    tmp: Path, n_per_class: int = 3, raters=("alice", "bob"), seed: int = 0, **kw
) -> tuple[Path, object]:
    """Inputs plus a created study database; returns (db path, StudyInfo)."""
    from lesiongan.turing.study import StudyConfig, run_create

    ds = make_dataset(tmp / "ds")
    syn = make_synthetic(tmp / "syn", ds)
    cfg = StudyConfig(n_per_class=n_per_class, seed=seed, raters=list(raters), **kw)
    info = run_create(ds, syn, tmp / "study.sqlite", cfg)
    return tmp / "study.sqlite", info
