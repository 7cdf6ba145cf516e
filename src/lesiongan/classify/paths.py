"""The two ways a run trains (``cfg.mode``), behind one interface for :mod:`.run`:

- ``finetune``: the whole network on augmented images (from scratch or from pretrained
  weights, with the head warm-up, discriminative rates and frozen batch norm of the config).
- ``cached``: a linear head on frozen ImageNet features of the backbone, cached per dataset
  (:mod:`.features`), standardized on the real training items; a random dihedral view per item
  per epoch is the augmentation. Seconds per run instead of minutes to hours.

Both use the same samplers (every strategy), trainer, selection on validation and outputs;
each gives the test items in its own form and the network that ``model.pt`` holds (for the
cached path: the backbone with the head folded in, so ``load_classifier`` takes images).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from lesiongan.classify.batches import FeatureData, TrainingData
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.data import load_images
from lesiongan.classify.features import fold_standardizer, run_features, standardizer
from lesiongan.classify.inputs import Inputs
from lesiongan.classify.models import build_model, get_model_spec, head_module
from lesiongan.classify.samplers import EpochSampler, build_pool, build_sampler
from lesiongan.classify.trainer import ClassifierTrainer
from lesiongan.errors import ConfigError

Event = Callable[[dict[str, Any]], None]


def build_run_sampler(cfg: ClassifyConfig, inputs: Inputs) -> EpochSampler:
    """The strategy's sampler over the real training items, then the synthetic ones (if used)."""
    classes = inputs.classes
    syn = inputs.synthetic if inputs.run_info["synthetic_used"] else None
    syn_rows = syn.rows if syn else []
    pool = build_pool(
        [classes.index(r.label) for r in inputs.train],
        len(classes),
        [classes.index(r.label) for r in syn_rows],
        [r.d_score for r in syn_rows],
    )
    try:
        return build_sampler(
            pool,
            cfg.strategy,
            cfg.sampler_params(),
            cfg.seed,
            calibration=syn.real_scores if syn else None,
        )
    except ValueError as exc:
        raise ConfigError(f"strategy {cfg.strategy!r}: {exc}") from None


class FinetunePath:
    name = "finetune"

    def __init__(
        self, cfg: ClassifyConfig, inputs: Inputs, device: torch.device, emit: Event, workers
    ) -> None:
        self.cfg, self.inputs, self.device, self.emit, self.workers = (
            cfg,
            inputs,
            device,
            emit,
            workers,
        )

    def build_trainer(self) -> ClassifierTrainer:
        cfg, inputs = self.cfg, self.inputs
        classes, syn = inputs.classes, inputs.synthetic
        paths = [inputs.root / r.path for r in inputs.train]
        if syn is not None and inputs.run_info["synthetic_used"]:
            paths += [syn.image_path(r) for r in syn.rows]
        total = len(paths) + len(inputs.val)

        def loading(done: int, _total: int, offset: int = 0) -> None:
            self.emit({"stage": "load", "done": offset + done, "total": total})

        pool_images = load_images(paths, inputs.image_size, self.workers, progress=loading)
        val_images = load_images(
            [inputs.root / r.path for r in inputs.val],
            inputs.image_size,
            self.workers,
            progress=lambda d, t: loading(d, t, len(paths)),
        )
        sampler = build_run_sampler(cfg, inputs)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, len(classes), cfg.pretrained)
        spec = get_model_spec(cfg.model)
        val_labels = np.array([classes.index(r.label) for r in inputs.val])
        data = TrainingData(pool_images, val_images, val_labels, classes, spec.mean, spec.std)
        head = head_module(model, cfg.model)
        return ClassifierTrainer(cfg, model, sampler, data, self.device, head=head)

    def test_items(self) -> torch.Tensor:
        rows = self.inputs.test
        paths = [self.inputs.root / r.path for r in rows]
        return load_images(paths, self.inputs.image_size, self.workers)

    def final_model(self, trainer: ClassifierTrainer) -> nn.Module:
        return trainer.model


class CachedPath:
    name = "cached"

    def __init__(
        self, cfg: ClassifyConfig, inputs: Inputs, device: torch.device, emit: Event, workers
    ) -> None:
        self.cfg, self.inputs, self.device, self.emit, self.workers = (
            cfg,
            inputs,
            device,
            emit,
            workers,
        )

    def _z(self, feats: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((feats - self.mean) / self.std).astype(np.float32))

    def build_trainer(self) -> ClassifierTrainer:
        cfg, inputs = self.cfg, self.inputs

        def progress(done: int, total: int) -> None:
            self.emit({"stage": "load", "done": done, "total": total})

        self.feats = run_features(inputs, cfg, self.device, self.workers, progress)
        self.mean, self.std = standardizer(self.feats.train)
        classes = inputs.classes
        pool = np.concatenate([self.feats.train, self.feats.synthetic], axis=1)
        val_labels = np.array([classes.index(r.label) for r in inputs.val])
        data = FeatureData(self._z(pool), self._z(self.feats.val), val_labels, classes)
        sampler = build_run_sampler(cfg, inputs)
        torch.manual_seed(cfg.seed)
        head = nn.Linear(pool.shape[2], len(classes))
        return ClassifierTrainer(cfg, head, sampler, data, self.device)

    def test_items(self) -> torch.Tensor:
        return self._z(self.feats.test)

    def final_model(self, trainer: ClassifierTrainer) -> nn.Module:
        """The backbone with its ImageNet weights and the trained head, folded to take raw
        features: ``load_classifier`` gives a network that maps images to these predictions
        (of the first view; the run's predictions average ``tta_views`` views)."""
        cfg = self.cfg
        model = build_model(cfg.model, len(self.inputs.classes), cfg.pretrained)
        assert isinstance(trainer.model, nn.Linear)
        head_module(model, cfg.model).load_state_dict(
            fold_standardizer(trainer.model, self.mean, self.std)
        )
        return model.eval()


PATHS: dict[str, type[FinetunePath] | type[CachedPath]] = {
    "finetune": FinetunePath,
    "cached": CachedPath,
}
