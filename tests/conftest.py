"""Shared fixtures: tiny source datasets in every supported layout, and a CLI runner."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017-sample"
ISIC_SAMPLE = Path(os.environ.get("LESIONGAN_ISIC_SAMPLE", SAMPLE))


@pytest.fixture(autouse=True, scope="session")
def _feature_cache(tmp_path_factory: pytest.TempPathFactory):
    """Audits cache feature matrices in the user's cache by default: tests use their own."""
    saved = os.environ.get("LESIONGAN_CACHE")
    os.environ["LESIONGAN_CACHE"] = str(tmp_path_factory.mktemp("lesiongan-cache"))
    yield
    if saved is None:
        os.environ.pop("LESIONGAN_CACHE", None)
    else:
        os.environ["LESIONGAN_CACHE"] = saved


def pytest_configure(config: pytest.Config) -> None:
    # torch with 2 threads per xdist worker thrashes a 2-core machine.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass


@pytest.fixture
def isic_sample() -> Path:
    if not ISIC_SAMPLE.is_dir():
        pytest.skip(
            f"real ISIC 2017 sample not found at {ISIC_SAMPLE} "
            "(set LESIONGAN_ISIC_SAMPLE to its folder to run this test)"
        )
    return ISIC_SAMPLE


def write_image(
    path: Path, size: tuple[int, int] = (40, 30), seed: int = 0, fmt: str = "JPEG"
) -> Path:
    """A small noisy RGB image (width, height)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


ISIC_LABELS = {"melanoma": (1.0, 0.0), "seborrheic_keratosis": (0.0, 1.0), "nevus": (0.0, 0.0)}


def make_isic2017(
    root: Path,
    per_class: dict[str, int] | None = None,
    split: str = "Training",
    size: tuple[int, int] = (40, 30),
    start: int = 0,
) -> list[str]:
    """Write an ISIC 2017 split with ``per_class`` images; returns the image ids."""
    per_class = per_class or {"melanoma": 4, "seborrheic_keratosis": 4, "nevus": 8}
    data = root / f"ISIC-2017_{split}_Data"
    rows, ids = [], []
    i = start
    for label, n in per_class.items():
        for _ in range(n):
            image_id = f"ISIC_{i:07d}"
            write_image(data / f"{image_id}.jpg", size, seed=i)
            rows.append([image_id, *ISIC_LABELS[label]])
            ids.append(image_id)
            i += 1
    (data / f"{ids[0]}_superpixels.png").write_bytes(b"not read")
    write_csv(
        data / f"ISIC-2017_{split}_Data_metadata.csv", ["image_id", "age_approximate", "sex"], []
    )
    write_csv(
        root / f"ISIC-2017_{split}_Part3_GroundTruth.csv",
        ["image_id", "melanoma", "seborrheic_keratosis"],
        rows,
    )
    return ids


@pytest.fixture
def isic2017_dir(tmp_path: Path) -> Path:
    root = tmp_path / "isic2017"
    make_isic2017(root)
    return root


def tree_state(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below root (to prove nothing was written there)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[p.relative_to(root).as_posix() + "/"] = "dir"
    return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``lesiongan`` in-process: returns (exit code, stdout, stderr)."""
    from lesiongan.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 procedural images prepared at 16 px (3 classes), shared by the GAN tests."""
    from lesiongan.data.prepare import PrepareConfig, run_prepare
    from lesiongan.data.synth import SynthConfig, run_synth

    root = tmp_path_factory.mktemp("gan-data")
    run_synth(root / "src", SynthConfig(n=48, size=32, seed=0), workers=1)
    run_prepare(root / "src", root / "ds", PrepareConfig(size=16, test_fraction=0.25), workers=1)
    return root / "ds"


@pytest.fixture(scope="session")
def audit_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two procedural datasets at 32 px (seeds 0 and 1, 72 train / 48 test each): the second's
    train images are "clean synthetic" stand-ins for audits of the first."""
    from lesiongan.data.prepare import PrepareConfig, run_prepare
    from lesiongan.data.synth import SynthConfig, run_synth

    root = tmp_path_factory.mktemp("audit-data")
    out = []
    for seed in (0, 1):
        run_synth(root / f"src{seed}", SynthConfig(n=120, size=32, seed=seed), workers=1)
        cfg = PrepareConfig(size=32, test_fraction=0.4)
        run_prepare(root / f"src{seed}", root / f"ds{seed}", cfg, workers=1)
        out.append(root / f"ds{seed}")
    return out[0], out[1]


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (``playwright install`` cannot download here)."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
