"""``lesiongan gan sample``: the stage that writes a synthetic directory from a trained run.

A thin layer over the inference API (:mod:`lesiongan.gan.inference`) and the synthetic
directory format (:mod:`lesiongan.data.synthetic`). Image ``i`` (counted over the classes in
the order given) gets seed ``seed * 10_000_000 + i``, so any image can be regenerated alone.
Images come from ``G_ema``; ``d_score`` is the discriminator's raw score of the saved (8-bit)
image with its intended label, used later for soft labels and filtering (empty for a generator
family without a discriminator, which cannot select by ``d-score`` either).

With ``select`` (:mod:`lesiongan.gan.selection`), ``ceil(n / keep)`` candidates are drawn per
class and the ``n`` with the highest ``select_score`` are kept (their seeds are unchanged).
Selection by a classifier takes an image scorer made by ``scorer_loader``
(:mod:`lesiongan.data.scoring`): the caller, which may import the classifier, passes it in.
Images are written as they are generated and rows streamed to ``manifest.csv``, so memory does
not grow with the number of images.

The directory records which GAN, checkpoint, dataset and train split produced it, carries the
GAN's ``train_images.csv`` (the leakage guard) and ``real_scores.csv`` (D's scores of the GAN's
real training images, the calibration of soft labels).
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator, model_validator

from lesiongan.config import Config, Seed
from lesiongan.data import synthetic as fmt
from lesiongan.data.images import read_prepared
from lesiongan.data.scoring import ImageScorer, ScorerLoader
from lesiongan.errors import LesionganError
from lesiongan.gan.grid import save_grid
from lesiongan.gan.inference import (
    LoadedGan,
    find_training_rows,
    generate_uint8,
    load_gan,
    score_images,
    score_training_images,
    uint8_to_input,
)
from lesiongan.gan.run import RUN_JSON, read_run_info
from lesiongan.gan.selection import check_classifier_leakage, compute_realism
from lesiongan.utils.device import resolve_device
from lesiongan.utils.stage import begin_stage

SEED_STRIDE = 10_000_000
MAX_PER_CLASS = 1_000_000  # a sane bound: 1 M images of 256 px are ~100 GB of PNG
PREVIEW_PER_CLASS = 8


class SampleConfig(Config):
    per_class: dict[str, int]
    seed: Seed = 0
    batch_size: int = Field(64, ge=1)
    checkpoint: str | None = None
    device: str = "auto"
    score_real: bool = True  # also score the GAN's real training images (soft labels)
    select: Literal["none", "d-score", "classifier", "realism"] = "none"
    keep: float = Field(1.0, gt=0, le=1)  # share of the candidates kept per class
    classifier: str | None = None  # classify run for classifier / realism selection
    realism_k: int = Field(3, ge=1)
    # StyleGAN2 only: None = the run's network.truncation_psi (1.0, none: synthetic training
    # data must keep its diversity)
    truncation_psi: float | None = Field(None, ge=0, le=1)

    @field_validator("per_class")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("give at least one class")
        for name, n in v.items():
            if not 1 <= n <= MAX_PER_CLASS:
                raise ValueError(f"{name}={n}: the count must be from 1 to {MAX_PER_CLASS:,}")
        return v

    @model_validator(mode="after")
    def _selection(self) -> SampleConfig:
        if self.select == "none" and self.keep != 1.0:
            raise ValueError("keep < 1 needs a selection method (select)")
        if self.select != "none" and self.keep == 1.0:
            raise ValueError(f"select={self.select} keeps everything with keep=1: set keep < 1")
        if self.select in ("classifier", "realism") and not self.classifier:
            raise ValueError(f"select={self.select} needs classifier (a classify train run)")
        if self.classifier and self.select not in ("classifier", "realism"):
            raise ValueError(
                f"classifier is used only by select=classifier or realism, not select={self.select}"
            )
        if sum(self.candidates().values()) >= SEED_STRIDE:
            raise ValueError(f"at most {SEED_STRIDE - 1:,} candidate images per sample")
        return self

    def candidates(self) -> dict[str, int]:
        """Images drawn per class: ``ceil(n / keep)`` (n without selection)."""
        return {c: math.ceil(n / self.keep - 1e-9) for c, n in self.per_class.items()}


@dataclass
class SampleResult:
    path: Path
    reused: bool  # an equal finished sample was there; nothing was computed
    counts: dict[str, int]


def parse_per_class(text: str) -> dict[str, int]:
    """``"melanoma=600,seborrheic_keratosis=700"`` -> dict; errors say what is wrong."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, n = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise LesionganError(f"--per-class {part!r}: expected CLASS=N")
        try:
            count = int(n)
        except ValueError:
            raise LesionganError(f"--per-class {part!r}: N must be a whole number") from None
        if not 1 <= count <= MAX_PER_CLASS:
            raise LesionganError(
                f"--per-class {part!r}: N must be from 1 to {MAX_PER_CLASS:,} "
                "(leave a class out to sample none of it)"
            )
        if name in out:
            raise LesionganError(f"--per-class: {name} is given twice")
        out[name] = count
    if not out:
        raise LesionganError("--per-class: give at least one CLASS=N")
    return out


def run_sample(
    run_dir: Path,
    out: Path,
    config: SampleConfig,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    scorer_loader: ScorerLoader | None = None,
) -> SampleResult:
    """Write a synthetic directory (or reuse an equal finished one).

    ``scorer_loader`` makes the image scorer of ``select: classifier|realism`` from
    ``config.classifier`` (the caller passes the classifier stage's loader: gan/ never imports it).
    """
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise LesionganError(f"{run_dir}: no such GAN run directory")
    inputs = [run_dir] + ([Path(config.classifier)] if config.classifier else [])
    stage = begin_stage(out, config, inputs, name="gan sample", force=force)
    if stage.is_done:
        return SampleResult(out, True, dict(config.per_class))
    run_info = read_run_info(run_dir)
    device = resolve_device(config.device)
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
    if config.select == "d-score":
        gan.require_discriminator("--select d-score")
    selector = _Selector(config, gan, run_dir, device, scorer_loader)
    with stage.write() as tmp:
        previews = _sample_all(tmp, gan, config, selector, progress)
        real = score_training_images(gan, run_dir, config.batch_size) if config.score_real else None
        if isinstance(real, list):
            fmt.write_real_scores(tmp, real)
        stage.provenance = _write_outputs(
            tmp, run_dir, run_info, gan, config, selector, previews, real
        )
    return SampleResult(out, False, dict(config.per_class))


def _sample_all(tmp, gan, config, selector, progress) -> dict[str, list[np.ndarray]]:
    """Generate, score, select and write every class's images; stream the manifest."""
    candidates = config.candidates()
    total, done, index = sum(candidates.values()), 0, 0
    previews: dict[str, list[np.ndarray]] = {}
    with fmt.ManifestWriter(tmp, selected=selector.method != "none") as manifest:
        for cls, n_cand in candidates.items():
            rows: list[dict] = []
            for start in range(0, n_cand, config.batch_size):
                k = min(config.batch_size, n_cand - start)
                seeds = [config.seed * SEED_STRIDE + index + start + j for j in range(k)]
                pixels = generate_uint8(gan, seeds, [cls] * k, config.truncation_psi)
                d_scores: list = [None] * k  # a family without a discriminator has none
                if gan.D is not None:
                    x = uint8_to_input(pixels, gan.device)
                    d_scores = score_images(gan, x, [cls] * k).cpu().tolist()
                select = selector.scores(pixels, cls, d_scores)
                for j, seed in enumerate(seeds):
                    image_id = f"SYN_{config.seed}_{seed % SEED_STRIDE:07d}"
                    rel = fmt.image_relpath(cls, image_id)
                    _write_png(tmp / rel, pixels[j])
                    row = {
                        "image_id": image_id,
                        "label": cls,
                        "path": rel,
                        "seed": seed,
                        "checkpoint_sha256": gan.checkpoint_sha256,
                        "d_score": d_scores[j],
                        "resolution": gan.resolution,
                        "checkpoint_kimg": gan.kimg,
                        fmt.SELECT_SCORE: None if select is None else float(select[j]),
                    }
                    if select is None:
                        manifest.write(row)
                        if len(previews.setdefault(cls, [])) < PREVIEW_PER_CLASS:
                            previews[cls].append(pixels[j])
                    else:
                        rows.append(row)
                done += k
                if progress:
                    progress(done, total)
            if rows:
                previews[cls] = _keep_best(tmp, rows, config.per_class[cls], manifest)
            index += n_cand
    return previews


def _keep_best(tmp: Path, rows: list[dict], n: int, manifest) -> list[np.ndarray]:
    """Keep the ``n`` rows with the highest select_score (ties: lower seed); delete the rest."""
    order = sorted(range(len(rows)), key=lambda i: (-rows[i][fmt.SELECT_SCORE], rows[i]["seed"]))
    kept = set(order[:n])
    previews = []
    for i, row in enumerate(rows):
        if i in kept:
            manifest.write(row)
            if len(previews) < PREVIEW_PER_CLASS:
                previews.append(np.asarray(Image.open(tmp / row["path"]).convert("RGB")))
        else:
            (tmp / row["path"]).unlink()
    return previews


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())


class _Selector:
    """Computes ``select_score`` for a batch of one class (None when not selecting)."""

    def __init__(
        self,
        config: SampleConfig,
        gan: LoadedGan,
        run_dir: Path,
        device,
        scorer_loader: ScorerLoader | None,
    ) -> None:
        self.method = config.select
        self.k = config.realism_k
        self.clf: ImageScorer | None = None
        self.real_features: dict[str, np.ndarray] = {}
        if self.method in ("classifier", "realism"):
            if scorer_loader is None:
                raise ValueError(f"select={self.method} needs run_sample(scorer_loader=...)")
            gan_sha = _gan_train_sha256(run_dir)
            check_classifier_leakage(Path(config.classifier), gan_sha)
            self.clf = scorer_loader(Path(config.classifier), device)
            missing = [c for c in config.per_class if c not in self.clf.classes]
            if missing:
                raise LesionganError(
                    f"{config.classifier}: the selection classifier does not know class(es) "
                    f"{', '.join(missing)}"
                )
        if self.method == "realism":
            self.real_features = self._real_features(run_dir, list(config.per_class), gan)

    def _real_features(self, run_dir: Path, classes: list[str], gan) -> dict[str, np.ndarray]:
        found = find_training_rows(run_dir)
        if isinstance(found, str):
            raise LesionganError(f"{run_dir}: realism selection needs the real images: {found}")
        rows, ds = found
        out = {}
        for cls in classes:
            part = [r for r in rows if r.label == cls]
            feats = []
            for start in range(0, len(part), 128):
                px = np.stack(
                    [
                        read_prepared(ds.image_path(r), gan.resolution)
                        for r in part[start : start + 128]
                    ]
                )
                feats.append(self.clf.features(torch.from_numpy(px)))
            if sum(len(f) for f in feats) <= self.k:
                raise LesionganError(
                    f"{run_dir}: realism selection needs more than k={self.k} real {cls} images"
                )
            out[cls] = np.concatenate(feats)
        return out

    def scores(self, pixels: np.ndarray, cls: str, d_scores: list[float]) -> np.ndarray | None:
        if self.method == "none":
            return None
        if self.method == "d-score":
            return np.asarray(d_scores, dtype=np.float64)
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        if self.method == "classifier":
            return self.clf.probabilities(x)[:, self.clf.classes.index(cls)]
        return compute_realism(self.real_features[cls], self.clf.features(x), self.k)

    def info(self, config: SampleConfig) -> dict | None:
        if self.method == "none":
            return None
        return {
            "method": self.method,
            "keep": config.keep,
            "candidates": config.candidates(),
            "classifier": str(Path(config.classifier).resolve()) if config.classifier else None,
            "classifier_sha256": self.clf.sha256 if self.clf else None,
            "realism_k": self.k if self.method == "realism" else None,
        }


def _gan_train_sha256(run_dir: Path) -> set[str]:
    import csv

    with open(run_dir / "train_images.csv", newline="", encoding="utf-8") as f:
        return {r["source_sha256"] for r in csv.DictReader(f)}


def _write_outputs(tmp, run_dir, run_info, gan, config, selector, previews, real) -> dict:
    """Write info, the training list and the preview; return the provenance's inputs."""
    fmt.write_info(
        tmp,
        {
            "gan_run": str(run_dir.resolve()),
            "checkpoint": str(gan.checkpoint.resolve()),
            "checkpoint_sha256": gan.checkpoint_sha256,
            "checkpoint_kimg": gan.kimg,
            "arch": gan.config.network.arch if gan.config else None,
            "truncation_psi": config.truncation_psi,
            "resolution": gan.resolution,
            "classes": gan.classes,
            "counts": config.per_class,
            "seed": config.seed,
            "dataset": run_info.get("dataset"),
            "dataset_fingerprint": run_info.get("dataset_fingerprint"),
            "train_split_fingerprint": run_info.get("train_split_fingerprint"),
            "selection": selector.info(config),
            "real_scores": fmt.REAL_SCORES if isinstance(real, list) else None,
            "real_scores_missing_reason": real if isinstance(real, str) else None,
        },
    )
    shutil.copyfile(run_dir / "train_images.csv", tmp / fmt.GAN_TRAIN_IMAGES)
    tiles = [t for c in previews for t in previews[c]]
    if tiles:
        width = max(len(v) for v in previews.values())
        grid = []
        for c in previews:
            grid += previews[c] + [np.zeros_like(tiles[0])] * (width - len(previews[c]))
        arr = torch.from_numpy(np.stack(grid)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        save_grid(arr, len(previews), tmp / fmt.PREVIEW)
    prov = {"gan_run": {"path": str(run_dir.resolve()), "checkpoint_sha256": gan.checkpoint_sha256}}
    if selector.clf is not None:
        prov["classifier"] = {
            "path": str(selector.clf.path.resolve()),
            "sha256": selector.clf.sha256,
        }
    return prov


def _check_checkpoint_belongs(gan: LoadedGan, run_dir: Path, run_info: dict) -> None:
    if gan.checkpoint.resolve().parent.parent != run_dir.resolve():
        raise LesionganError(
            f"{gan.checkpoint}: not a checkpoint of {run_dir}; sample from the run that made it "
            f"(its {RUN_JSON} and train_images.csv describe the training data)"
        )
    if run_info.get("classes") and list(run_info["classes"]) != gan.classes:
        raise LesionganError(
            f"{gan.checkpoint}: classes {gan.classes} differ from {run_dir / RUN_JSON}"
        )
