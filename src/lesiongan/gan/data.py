"""The GAN's training images: the ``train`` split of a prepared dataset, held as uint8 in memory.

Small medical datasets fit easily (2000 images at 256 px are 393 MB), so images are decoded once
and minibatches are drawn by index, on the training device. The minibatch order comes from a
dedicated ``torch.Generator`` whose state is checkpointed, so a resumed run draws the same
images as an uninterrupted one. In a multi-process run every rank draws the same global batch
and takes its own slice (minibatch-stddev groups and augmentation draws are per rank, so a
multi-process run is close to, not equal to, a single-process run of the same batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lesiongan.data.images import read_prepared_job
from lesiongan.data.manifest import PreparedDataset
from lesiongan.errors import DataError
from lesiongan.utils.parallel import parallel_map


@dataclass
class TrainImages:
    images: torch.Tensor  # uint8 [N, 3, R, R]
    labels: torch.Tensor  # int64 [N]
    classes: tuple[str, ...]
    image_ids: list[str]
    source_sha256: list[str]


def load_train_images(
    ds: PreparedDataset,
    resolution: int,
    classes: list[str] | None = None,
    workers: int | None = None,
) -> TrainImages:
    """The ``train`` split (optionally only some classes), resized to ``resolution`` if needed."""
    all_classes = ds.classes
    wanted = tuple(classes) if classes else all_classes
    unknown = [c for c in wanted if c not in all_classes]
    if unknown:
        raise DataError(
            f"{ds.root}: class(es) {', '.join(unknown)} not in the dataset "
            f"({', '.join(all_classes)})"
        )
    size = int(ds.info.get("image_size", 0))
    if size and size < resolution:
        raise DataError(
            f"{ds.root}: images are {size} px, below the GAN resolution {resolution} px "
            "(prepare the dataset at a larger --size)"
        )
    rows = [r for r in ds.split_rows("train") if r.label in wanted]
    if not rows:
        raise DataError(f"{ds.root}: no train images of class(es) {', '.join(wanted)}")
    arrays = parallel_map(
        read_prepared_job, [(str(ds.image_path(r)), resolution) for r in rows], workers
    )
    images = torch.from_numpy(np.stack(arrays))
    labels = torch.tensor([wanted.index(r.label) for r in rows], dtype=torch.int64)
    return TrainImages(
        images, labels, wanted, [r.image_id for r in rows], [r.source_sha256 for r in rows]
    )


class BatchSampler:
    """Endless seeded shuffling over the dataset; state is a plain dict for checkpoints."""

    def __init__(self, n: int, seed: int, mirror: bool) -> None:
        self.n = n
        self.mirror = mirror
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def next_indices(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the next global batch and flip codes (bit 0: x flip, bit 1: y flip)."""
        out = []
        need = batch
        while need > 0:
            if self.pos >= self.n:
                self.perm = torch.randperm(self.n, generator=self.gen)
                self.pos = 0
            take = min(need, self.n - self.pos)
            out.append(self.perm[self.pos : self.pos + take])
            self.pos += take
            need -= take
        flips = (
            torch.randint(0, 4, (batch,), generator=self.gen)
            if self.mirror
            else torch.zeros(batch, dtype=torch.int64)
        )
        return torch.cat(out), flips

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"].cpu())
        self.perm = state["perm"].cpu().clone()
        self.pos = int(state["pos"])


def make_real_batch(
    images: torch.Tensor, idx: torch.Tensor, flips: torch.Tensor, stage_res: int, alpha: float
) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] at the phase's resolution, faded like the generator.

    During a fade-in the paper blends reals the same way as fakes: the new resolution with the
    previous one, upsampled, by alpha.
    """
    x = images[idx.to(images.device)].float() / 127.5 - 1.0
    fx = (flips.to(x.device) & 1).bool()
    fy = (flips.to(x.device) & 2).bool()
    x = torch.where(fx.view(-1, 1, 1, 1), x.flip(3), x)
    x = torch.where(fy.view(-1, 1, 1, 1), x.flip(2), x)
    if x.shape[-1] != stage_res:
        x = F.adaptive_avg_pool2d(x, stage_res)
    if alpha < 1.0:
        low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
        x = torch.lerp(low, x, alpha)
    return x
