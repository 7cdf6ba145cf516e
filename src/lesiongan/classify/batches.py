"""What the model sees of the training pool: augmented images (fine-tuning) or cached features
of random dihedral views (the cached-feature path); dihedral views when predicting.

Both classes hold the pool (real training items, then synthetic ones, in the sampler's order)
and the validation items, and answer the trainer's questions the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lesiongan.backbones.features import dihedral
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.data import augment_batch, normalize, to_unit
from lesiongan.classify.models import IMAGENET_MEAN, IMAGENET_STD


@dataclass
class TrainingData:
    """Pool images (real training images, then synthetic ones, as in the sampler's pool).

    The model sees them augmented (``cfg.augment``) in training, as dihedral views when
    predicting, normalized with the network's ``mean``/``std``.
    """

    pool_images: torch.Tensor  # uint8 [N, 3, S, S]
    val_images: torch.Tensor  # uint8 [M, 3, S, S]
    val_labels: np.ndarray  # int [M]
    classes: list[str]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @property
    def pool(self) -> torch.Tensor:
        return self.pool_images

    @property
    def val(self) -> torch.Tensor:
        return self.val_images

    def n_items(self, items: torch.Tensor) -> int:
        return int(items.shape[0])

    def take(self, items: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return items[torch.from_numpy(idx)]

    def _model_input(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x

    def train_input(
        self, idx: np.ndarray, cfg: ClassifyConfig, gen: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        x = augment_batch(self.pool_images[torch.from_numpy(idx)].to(device), cfg.augment, gen)
        return self._model_input(x)

    def eval_input(
        self, items: torch.Tensor, start: int, stop: int, view: int, device: torch.device
    ) -> torch.Tensor:
        x = to_unit(items[start:stop].to(device))
        return self._model_input(dihedral(x, view) if view else x)


@dataclass
class FeatureData:
    """The cached-feature path: frozen-backbone features of the pool's items over dihedral views.

    Training draws one random view per item per batch (the path's augmentation); prediction
    reads the views it is asked for.
    """

    pool_feats: torch.Tensor  # float32 [V, N, D]
    val_feats: torch.Tensor  # float32 [V, M, D]
    val_labels: np.ndarray
    classes: list[str]

    @property
    def pool(self) -> torch.Tensor:
        return self.pool_feats

    @property
    def val(self) -> torch.Tensor:
        return self.val_feats

    def n_items(self, items: torch.Tensor) -> int:
        return int(items.shape[1])

    def take(self, items: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return items[:, torch.from_numpy(idx)]

    def train_input(
        self, idx: np.ndarray, cfg: ClassifyConfig, gen: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        rows = torch.from_numpy(idx)
        views = torch.randint(0, self.pool_feats.shape[0], (idx.size,), generator=gen)
        return self.pool_feats[views, rows].to(device)

    def eval_input(
        self, items: torch.Tensor, start: int, stop: int, view: int, device: torch.device
    ) -> torch.Tensor:
        return items[view, start:stop].to(device)
