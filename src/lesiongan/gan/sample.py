"""``lesiongan gan sample``: draw labelled synthetic images from a trained run.

Each image has its own seed (``seed * 10_000_000 + index``): its latent is drawn from a
generator seeded with it, so any image can be regenerated alone (:func:`generate`). Images come
from ``G_ema``; ``d_score`` is the discriminator's raw score of the saved (8-bit) image with its
intended label and no augmentation, used later for soft labels and filtering.

D's minibatch-stddev layer makes a score depend on the other images in its group. So that an
image's ``d_score`` is its own, :func:`score_images` puts every image in a group with fixed
companions: ``group - 1`` images generated from reserved seeds with the same label.

The output directory records which GAN, checkpoint, dataset and train split produced it, and
carries the GAN's ``train_images.csv`` so a classifier can refuse to test on those images.
It also holds ``real_scores.csv``: D's scores of the GAN's real training images, the
calibration of soft labels (:mod:`lesiongan.gan.real_scores`).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pydantic import Field, ValidationError

from lesiongan.config import Config, save_config
from lesiongan.errors import LesionganError
from lesiongan.gan.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from lesiongan.gan.config import GanConfig
from lesiongan.gan.grid import save_grid, to_uint8
from lesiongan.gan.networks import Discriminator, Generator, build_networks
from lesiongan.gan.real_scores import REAL_SCORES, score_training_images, write_real_scores
from lesiongan.gan.schedule import build_phases, phase_at
from lesiongan.utils.device import resolve_device
from lesiongan.utils.hashing import sha256_file
from lesiongan.utils.outdir import atomic_output_dir
from lesiongan.utils.provenance import save_provenance

SEED_STRIDE = 10_000_000
MANIFEST_COLUMNS = (
    "image_id",
    "label",
    "path",
    "seed",
    "checkpoint_sha256",
    "d_score",
    "resolution",
    "checkpoint_kimg",
)


class SampleConfig(Config):
    per_class: dict[str, int]
    seed: int = 0
    batch_size: int = Field(64, ge=1)
    checkpoint: str | None = None
    device: str = "auto"
    score_real: bool = True  # also score the GAN's real training images (soft labels)


@dataclass
class LoadedGan:
    G: Generator
    D: Discriminator
    classes: list[str]
    stage: int
    resolution: int
    checkpoint: Path
    checkpoint_sha256: str
    kimg: float
    alpha: float = 1.0
    conditional: bool = True


def parse_per_class(text: str) -> dict[str, int]:
    """``"melanoma=600,seborrheic_keratosis=700"`` -> dict; errors say what is wrong."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, n = part.partition("=")
        if not sep or not name.strip():
            raise LesionganError(f"--per-class {part!r}: expected CLASS=N")
        try:
            count = int(n)
        except ValueError:
            raise LesionganError(f"--per-class {part!r}: N must be a whole number") from None
        if count < 0:
            raise LesionganError(f"--per-class {part!r}: N must be >= 0")
        out[name.strip()] = out.get(name.strip(), 0) + count
    if not out:
        raise LesionganError("--per-class: give at least one CLASS=N")
    return out


def load_gan(
    run_dir: Path, checkpoint: Path | None = None, device: str | torch.device = "cpu"
) -> LoadedGan:
    path = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir)
    state = load_checkpoint(path, device)
    try:
        cfg = GanConfig.model_validate(state["config"])
    except ValidationError as exc:
        raise CheckpointError(
            f"{path}: its config is not one this version reads ({exc.error_count()} error(s))"
        ) from None
    classes = list(state["classes"])
    G, D = build_networks(cfg, len(classes))
    G, D = G.to(device), D.to(device)
    try:
        G.load_state_dict(state["G_ema"])
        D.load_state_dict(state["D"])
    except RuntimeError as exc:
        raise LesionganError(
            f"{path}: weights do not match the saved config ({str(exc).splitlines()[0]})"
        ) from None
    # A checkpoint saved during a fade-in is sampled with that phase's blend, as it was trained.
    phase, alpha = phase_at(
        build_phases(cfg.network, cfg.schedule), max(int(state["cur_nimg"]) - 1, 0)
    )
    return LoadedGan(
        G.eval().requires_grad_(False),
        D.eval().requires_grad_(False),
        classes,
        phase.stage,
        phase.resolution,
        path,
        sha256_file(path),
        state["cur_nimg"] / 1000,
        alpha,
        cfg.network.conditional and len(classes) > 1,
    )


@torch.no_grad()
def generate(gan: LoadedGan, seeds: list[int], labels: list[int]) -> torch.Tensor:
    """Images in [-1, 1] for the given per-image seeds and class indices."""
    dev = next(gan.G.parameters()).device
    z = torch.stack(
        [
            torch.randn(gan.G.cfg.latent_dim, generator=torch.Generator().manual_seed(s))
            for s in seeds
        ]
    )
    c = torch.tensor(labels, dtype=torch.int64)
    return gan.G(z.to(dev), c.to(dev), gan.stage, gan.alpha)


COMPANION_SEED = 2**40


@torch.no_grad()
def score_images(gan: LoadedGan, images: torch.Tensor, labels: list[int]) -> torch.Tensor:
    """D's score of each image, in a minibatch-stddev group with fixed same-class companions."""
    group = gan.D.cfg.mbstd_group
    c = torch.tensor(labels, dtype=torch.int64, device=images.device)
    if group <= 1:
        return gan.D(images, c, gan.stage, gan.alpha).float()
    n = images.shape[0]
    # minibatch_stddev groups sample i with i + n, i + 2n, ... when the batch is group * n.
    parts = [images]
    for k in range(group - 1):
        comp = generate(gan, [COMPANION_SEED + k] * n, labels)
        parts.append(comp.to(images.dtype))
    scores = gan.D(torch.cat(parts), c.repeat(group), gan.stage, gan.alpha).float()
    return scores[:n]


def run_sample(
    run_dir: Path,
    out: Path,
    config: SampleConfig,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise LesionganError(f"{run_dir}: no such GAN run directory")
    device = resolve_device(config.device)
    run_info = _leakage_records(run_dir)
    gan = load_gan(run_dir, Path(config.checkpoint) if config.checkpoint else None, device)
    _check_checkpoint_belongs(gan, run_dir, run_info)
    if not gan.conditional and len(gan.classes) > 1:
        raise LesionganError(
            f"{run_dir}: an unconditional GAN trained on {len(gan.classes)} classes cannot "
            "sample a given class (train one GAN per class with --set data.classes=[CLASS])"
        )
    unknown = [c for c in config.per_class if c not in gan.classes]
    if unknown:
        raise LesionganError(
            f"--per-class: class(es) {', '.join(unknown)} not in this GAN "
            f"({', '.join(gan.classes)})"
        )
    jobs = [(cls, k) for cls, n in config.per_class.items() for k in range(n)]
    total = len(jobs)
    with atomic_output_dir(out, [run_dir], force) as tmp:
        rows, previews = [], {c: [] for c in config.per_class}
        for start in range(0, total, config.batch_size):
            batch = jobs[start : start + config.batch_size]
            seeds = [config.seed * SEED_STRIDE + start + j for j in range(len(batch))]
            labels = [gan.classes.index(cls) for cls, _ in batch]
            pixels = to_uint8(generate(gan, seeds, labels))
            x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
            with torch.no_grad():
                scores = score_images(gan, x, labels).cpu().tolist()
            for (cls, _), seed, px, score in zip(batch, seeds, pixels, scores):
                image_id = f"SYN_{config.seed}_{seed % SEED_STRIDE:07d}"
                rel = Path("images") / cls / f"{image_id}.png"
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                buf = io.BytesIO()
                Image.fromarray(px).save(buf, format="PNG")
                (tmp / rel).write_bytes(buf.getvalue())
                rows.append(
                    [
                        image_id,
                        cls,
                        rel.as_posix(),
                        seed,
                        gan.checkpoint_sha256,
                        f"{score:.6g}",
                        gan.resolution,
                        gan.kimg,
                    ]
                )
                if len(previews[cls]) < 8:
                    previews[cls].append(px)
            if progress:
                progress(min(start + config.batch_size, total), total)
        real = score_training_images(gan, run_dir, config.batch_size) if config.score_real else None
        if isinstance(real, list):
            write_real_scores(tmp / REAL_SCORES, real)
        _write_outputs(tmp, run_dir, gan, config, rows, previews, real)
    return out


def _write_outputs(
    tmp: Path, run_dir: Path, gan: LoadedGan, config: SampleConfig, rows, previews, real=None
) -> None:
    with open(tmp / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(MANIFEST_COLUMNS)
        w.writerows(rows)
    run_info = (
        json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    )
    (tmp / "synthetic.json").write_text(
        json.dumps(
            {
                "format": "lesiongan-synthetic-v1",
                "gan_run": str(run_dir.resolve()),
                "checkpoint": str(gan.checkpoint.resolve()),
                "checkpoint_sha256": gan.checkpoint_sha256,
                "checkpoint_kimg": gan.kimg,
                "resolution": gan.resolution,
                "classes": gan.classes,
                "counts": config.per_class,
                "seed": config.seed,
                "dataset": run_info.get("dataset"),
                "dataset_fingerprint": run_info.get("dataset_fingerprint"),
                "train_split_fingerprint": run_info.get("train_split_fingerprint"),
                "real_scores": REAL_SCORES if isinstance(real, list) else None,
                "real_scores_missing_reason": real if isinstance(real, str) else None,
            },
            indent=2,
        )
        + "\n"
    )
    if (run_dir / "train_images.csv").is_file():
        shutil.copyfile(run_dir / "train_images.csv", tmp / "gan_train_images.csv")
    tiles = [t for c in previews for t in previews[c]]
    if tiles:
        width = max(len(v) for v in previews.values())
        grid = []
        for c in previews:
            row = previews[c] + [np.zeros_like(tiles[0])] * (width - len(previews[c]))
            grid += row
        arr = torch.from_numpy(np.stack(grid)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        save_grid(arr, len(previews), tmp / "preview.png")
    save_config(config, tmp / "config.yaml")
    save_provenance(
        tmp,
        "gan sample",
        {"gan_run": {"path": str(run_dir.resolve()), "checkpoint_sha256": gan.checkpoint_sha256}},
    )


def _leakage_records(run_dir: Path) -> dict:
    """The GAN run's record of its training data: required, since the leakage guard needs it."""
    run_json, train_images = run_dir / "run.json", run_dir / "train_images.csv"
    for p in (run_json, train_images):
        if not p.is_file():
            raise LesionganError(
                f"{p}: missing; without it the images the GAN saw are unknown and a classifier "
                "could be tested on them (is this a 'gan train' run directory?)"
            )
    return json.loads(run_json.read_text())


def _check_checkpoint_belongs(gan: LoadedGan, run_dir: Path, run_info: dict) -> None:
    if gan.checkpoint.resolve().parent.parent != run_dir.resolve():
        raise LesionganError(
            f"{gan.checkpoint}: not a checkpoint of {run_dir}; sample from the run that made it "
            "(its run.json and train_images.csv describe the training data)"
        )
    if run_info.get("classes") and list(run_info["classes"]) != gan.classes:
        raise LesionganError(
            f"{gan.checkpoint}: classes {gan.classes} differ from {run_dir / 'run.json'}"
        )
