"""The GAN inference API: load a trained run, generate images, score images with D.

Works for every generator family (``lesiongan.gan.families``); scoring needs a family with a
discriminator (``LoadedGan.D`` is None otherwise, and scoring is refused in one line).

No CLI in here; ``gan sample`` (``lesiongan.gan.sample``) is a thin stage on top:

```python
from lesiongan.gan.inference import load_gan, generate, generate_uint8, score_images

gan = load_gan("gan-run")                      # latest checkpoint, G_ema and D, eval mode
x = generate(gan, seeds=[0, 1], labels=["melanoma", "nevus"])   # float [-1, 1], NCHW
px = generate_uint8(gan, seeds=[0, 1], labels=[0, 2])           # uint8 NHWC arrays
s = score_images(gan, x, labels=[0, 2])         # D's raw scores, one per image
```

Each image's latent is drawn from a generator seeded with that image's own seed, so any image
can be regenerated alone, on any batch size.

D's minibatch-stddev layer makes a score depend on the other images in its group. So that an
image's score is its own, [`score_images`][] puts every image in a group with fixed
companions: ``group - 1`` images generated from reserved seeds with the same label.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from lesiongan.data.images import read_prepared
from lesiongan.data.manifest import PreparedDataset, load_dataset, split_fingerprint
from lesiongan.errors import LesionganError
from lesiongan.gan.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from lesiongan.gan.config import GanConfig
from lesiongan.gan.families import (
    DEFAULT_FAMILY,
    GeneratorFamily,
    families,
    get_family,
    set_cond_blend,
)
from lesiongan.gan.grid import to_uint8
from lesiongan.gan.schedule import build_phases, phase_at, transition_blend
from lesiongan.utils.hashing import sha256_file

COMPANION_SEED = 2**40

__all__ = [
    "COMPANION_SEED",
    "LoadedGan",
    "generate",
    "generate_uint8",
    "load_gan",
    "score_images",
    "score_training_images",
]


@dataclass
class LoadedGan:
    """A trained GAN ready for inference: ``G`` is the EMA generator, both in eval mode; ``D``
    is None for a family without a discriminator."""

    G: torch.nn.Module
    D: torch.nn.Module | None
    classes: list[str]
    stage: int
    resolution: int
    checkpoint: Path
    checkpoint_sha256: str
    kimg: float
    alpha: float = 1.0
    conditional: bool = True
    config: GanConfig | None = None
    companions: dict = field(default_factory=dict, repr=False)  # score_images' fixed companions

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    @property
    def family(self) -> GeneratorFamily:
        return get_family(self.config.network.arch if self.config else DEFAULT_FAMILY)

    def require_discriminator(self, what: str) -> torch.nn.Module:
        """D, or a one-line error saying that ``what`` needs one."""
        if self.D is None:
            raise LesionganError(
                f"{self.checkpoint}: {what} needs a discriminator, and generator family "
                f"{self.family.name!r} has none"
            )
        return self.D

    def label_indices(self, labels: Sequence[int | str]) -> list[int]:
        """Class names or indices -> indices (a one-line error for an unknown class)."""
        out = []
        for lab in labels:
            if isinstance(lab, str):
                if lab not in self.classes:
                    raise LesionganError(
                        f"{self.checkpoint}: class {lab!r} not in this GAN "
                        f"({', '.join(self.classes)})"
                    )
                out.append(self.classes.index(lab))
            else:
                if not 0 <= int(lab) < len(self.classes):
                    raise LesionganError(f"{self.checkpoint}: class index {lab} out of range")
                out.append(int(lab))
        return out


def load_gan(
    run_or_checkpoint: Path | str,
    checkpoint: Path | str | None = None,
    device: str | torch.device = "cpu",
) -> LoadedGan:
    """Load ``G_ema`` and ``D`` from a run directory (latest checkpoint) or a checkpoint file."""
    src = Path(run_or_checkpoint)
    if checkpoint is not None:
        path = Path(checkpoint)
    elif src.is_file():
        path = src
    else:
        if not src.is_dir():
            raise LesionganError(f"{src}: no such GAN run directory or checkpoint")
        path = latest_checkpoint(src)
    state = load_checkpoint(path, device)
    try:
        cfg = GanConfig.model_validate(state["config"])
    except ValidationError as exc:
        raise CheckpointError(
            f"{path}: its config is not one this version reads ({exc.error_count()} error(s))"
        ) from None
    classes = list(state["classes"])
    G, D = get_family(cfg.network.arch).build_networks(cfg, len(classes))
    G, D = G.to(device), None if D is None else D.to(device)
    try:
        G.load_state_dict(state["G_ema"])
        if D is not None:
            D.load_state_dict(state["D"])
    except RuntimeError as exc:
        raise LesionganError(
            f"{path}: weights do not match the saved config ({str(exc).splitlines()[0]})"
        ) from None
    # A checkpoint saved during a fade-in is sampled with that phase's blend, as it was trained;
    # one saved during the transition to conditional training with that class weight.
    phase, alpha = phase_at(
        build_phases(cfg.network, cfg.schedule), max(int(state["cur_nimg"]) - 1, 0)
    )
    span = cfg.conditioning.transition_kimg
    if span is not None:
        set_cond_blend([G, D], transition_blend(state["cur_nimg"] / 1000, *span))
    return LoadedGan(
        G.eval().requires_grad_(False),
        None if D is None else D.eval().requires_grad_(False),
        classes,
        phase.stage,
        phase.resolution,
        path,
        sha256_file(path),
        state["cur_nimg"] / 1000,
        alpha,
        cfg.network.conditional and len(classes) > 1,
        cfg,
    )


def _latents(gan: LoadedGan, seeds: Sequence[int]) -> torch.Tensor:
    dim = gan.config.network.latent_dim if gan.config else gan.G.cfg.latent_dim
    return torch.stack(
        [torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    )


@torch.no_grad()
def generate(
    gan: LoadedGan,
    seeds: Sequence[int],
    labels: Sequence[int | str],
    truncation_psi: float | None = None,
) -> torch.Tensor:
    """Images in [-1, 1] (N, 3, H, W, on the GAN's device) for per-image seeds and classes.

    ``truncation_psi`` (families with truncation: stylegan2; default: the run's
    ``network.truncation_psi``, 1 = none) pulls w towards the class's mean w: fewer odd images,
    less diversity.
    """
    if len(seeds) != len(labels):
        raise ValueError(f"{len(seeds)} seeds but {len(labels)} labels")
    c = torch.tensor(gan.label_indices(labels), dtype=torch.int64, device=gan.device)
    z = _latents(gan, seeds).to(gan.device)
    if truncation_psi is not None:
        if not gan.family.truncation:
            names = " or ".join(f.name for f in families() if f.truncation)
            raise LesionganError(
                f"{gan.checkpoint}: truncation needs network.arch: {names} "
                f"(this run is {gan.family.name})"
            )
        return gan.G(z, c, gan.stage, gan.alpha, truncation_psi=truncation_psi)
    return gan.G(z, c, gan.stage, gan.alpha)


def generate_uint8(
    gan: LoadedGan,
    seeds: Sequence[int],
    labels: Sequence[int | str],
    truncation_psi: float | None = None,
) -> np.ndarray:
    """Images as uint8 arrays (N, H, W, 3), exactly as ``gan sample`` saves them."""
    return to_uint8(generate(gan, seeds, labels, truncation_psi))


def uint8_to_input(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1] (what D saw during training)."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)


@torch.no_grad()
def score_images(gan: LoadedGan, images: torch.Tensor, labels: Sequence[int | str]) -> torch.Tensor:
    """D's raw score of each image (float [-1, 1] NCHW) with its label, independent of batch."""
    D = gan.require_discriminator("scoring images")
    idx = gan.label_indices(labels)
    group = getattr(getattr(D, "cfg", None), "mbstd_group", 1)
    images = images.to(gan.device)
    c = torch.tensor(idx, dtype=torch.int64, device=gan.device)
    if group <= 1:
        return D(images, c, gan.stage, gan.alpha).float()
    n = images.shape[0]
    # minibatch_stddev groups sample i with i + n, i + 2n, ... when the batch is group * n.
    # The companions depend only on (k, labels): generated once and kept (most batches of a
    # sample are alike), which makes scoring ~3x cheaper without changing a bit.
    parts = [images]
    for k in range(group - 1):
        key = (k, tuple(idx))
        if key not in gan.companions:
            if len(gan.companions) > 64:
                gan.companions.clear()
            gan.companions[key] = generate(gan, [COMPANION_SEED + k] * n, idx)
        parts.append(gan.companions[key].to(images.dtype))
    scores = D(torch.cat(parts), c.repeat(group), gan.stage, gan.alpha).float()
    return scores[:n]


def find_training_rows(run_dir: Path) -> tuple[list, PreparedDataset] | str:
    """The dataset rows a GAN run trained on, and the dataset; or why they are unavailable."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    dataset = Path(info.get("dataset") or "")
    if not (dataset / "manifest.csv").is_file():
        return f"the GAN's dataset {dataset} is not there any more"
    try:
        ds = load_dataset(dataset)
    except LesionganError as exc:
        return f"the GAN's dataset cannot be read ({exc})"
    if split_fingerprint(ds.rows, "train") != info.get("train_split_fingerprint"):
        return f"the train split of {dataset} changed since the GAN was trained"
    with open(run_dir / "train_images.csv", newline="", encoding="utf-8") as f:
        seen = {row["image_id"] for row in csv.DictReader(f)}
    rows = [r for r in ds.split_rows("train") if r.image_id in seen]
    if len(rows) != len(seen):
        return f"{len(seen) - len(rows)} of the GAN's training images are missing from {dataset}"
    return rows, ds


def score_training_images(gan: LoadedGan, run_dir: Path, batch_size: int) -> list[list] | str:
    """``real_scores.csv`` rows (id, label, sha256, score) for every image the GAN trained on,
    scored like the synthetic images (same checkpoint, fixed companions); or why not."""
    if gan.D is None:
        return f"generator family {gan.family.name!r} has no discriminator"
    found = find_training_rows(run_dir)
    if isinstance(found, str):
        return found
    rows, ds = found
    out: list[list] = []
    for start in range(0, len(rows), batch_size):
        part = rows[start : start + batch_size]
        pixels = np.stack([read_prepared(ds.image_path(r), gan.resolution) for r in part])
        x = torch.from_numpy(pixels).float().div(127.5).sub(1)
        scores = score_images(gan, x, [r.label for r in part]).cpu().tolist()
        out += [[r.image_id, r.label, r.source_sha256, f"{s:.6g}"] for r, s in zip(part, scores)]
    return out
