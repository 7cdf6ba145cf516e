"""The classifier's configuration (``classify train --config/--set``), with its defaults."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lesiongan.classify.models import MODELS
from lesiongan.classify.samplers import SamplerParams, parse_strategy
from lesiongan.config import Config, Seed


class AugmentConfig(Config):
    """The dermoscopy augmentation preset, applied alike to real and synthetic training images.

    Lesions have no canonical orientation, so flips and 90-degree rotations are free; the small
    affine and colour jitter mimic framing, zoom and lighting differences between dermatoscopes.
    """

    flips: bool = True  # random horizontal and vertical flips
    rot90: bool = True  # random multiples of 90 degrees
    degrees: float = Field(10.0, ge=0, le=45)  # extra rotation in [-degrees, degrees]
    translate: float = Field(0.05, ge=0, le=0.3)  # shift, as a fraction of the image size
    scale: tuple[float, float] = (0.95, 1.05)  # zoom range
    brightness: float = Field(0.1, ge=0, le=1)  # factor in [1 - b, 1 + b]
    contrast: float = Field(0.1, ge=0, le=1)
    saturation: float = Field(0.1, ge=0, le=1)
    hue: float = Field(0.02, ge=0, le=0.5)  # shift in [-hue, hue] of a full turn

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError("scale must be (low, high) with 0 < low <= high")
        return v


class SamplerConfig(Config):
    """Strategy options (see :mod:`lesiongan.classify.samplers`); each used by one strategy."""

    ratio: float = Field(0.5, ge=0, lt=1)  # synthetic-ratio: synthetic share of each class
    balance_with_replacement: bool = True  # synthetic-balance: reuse synthetic images if short
    epoch_size: int | None = Field(None, ge=1)  # cased: images per epoch (default: real count)
    p_end: float | None = Field(None, gt=0, le=1)  # cased: final curriculum-batch probability
    synthetic_share: float = Field(0.75, ge=0, le=1)  # cased: synthetic share of minority slots
    max_reuse: int = Field(2, ge=1)  # cased: uses of one synthetic image per epoch
    rescore_every: int = Field(1, ge=1)  # cased: epochs between re-scoring the synthetic pool
    # synthetic-pretrain: share of the epochs (the first ones, rounded to whole epochs) that add
    # synthetic images as synthetic-balance does; the rest train on the real images only
    pretrain_fraction: float = Field(0.75, ge=0, le=1)


class ClassifyConfig(Config):
    model: str = "resnet18"  # resnet18, resnet50, efficientnet_b0
    pretrained: str | None = None  # None, "imagenet" (torch hub cache) or a weights file
    image_size: int | None = Field(None, ge=16, le=1024)  # None: the dataset's prepared size
    strategy: str = "none"  # see --help; parts join with '+'
    epochs: int = Field(20, ge=1)
    # images per epoch: None = the number of real training images, so that every strategy takes
    # the same number of optimizer steps (a fair comparison); "natural" = each strategy's own
    # epoch (e.g. oversample's balanced epoch is ~2x longer); or a number
    epoch_images: int | Literal["natural"] | None = None
    batch_size: int = Field(32, ge=2)
    # AdamW, cosine decay to 0 after a one-epoch warm-up
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(1e-4, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)  # carved from train when there is no val split
    seed: Seed = 0
    bootstrap: int = Field(1000, ge=1)  # test-set bootstrap resamples for the 95 % intervals
    eval_batch_size: int = Field(256, ge=1)
    predict_train: bool = True  # also write predictions of the training images (real, synthetic)
    device: str = "auto"
    augment: AugmentConfig = AugmentConfig()
    sampler: SamplerConfig = SamplerConfig()

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in MODELS:
            raise ValueError(f"unknown model {v!r} (choose from {', '.join(MODELS)})")
        return v

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        return "+".join(parse_strategy(v))  # ValueError -> a config error naming the key

    @model_validator(mode="after")
    def _cased_needs_epochs(self) -> ClassifyConfig:
        if "cased" in self.strategy and self.epochs < 2:
            raise ValueError("the cased curriculum anneals over epochs: use epochs >= 2")
        return self

    def sampler_params(self) -> SamplerParams:
        s = self.sampler
        epoch = self.epoch_images if isinstance(self.epoch_images, int) else None
        return SamplerParams(
            ratio=s.ratio,
            balance_with_replacement=s.balance_with_replacement,
            batch_size=self.batch_size,
            epoch_size=s.epoch_size or epoch,
            n_epochs=max(self.epochs, 2),
            p_end=s.p_end,
            synthetic_share=s.synthetic_share,
            max_reuse=s.max_reuse,
            rescore_every=s.rescore_every,
            pretrain_epochs=self.pretrain_epochs(),
        )

    def pretrain_epochs(self) -> int:
        """synthetic-pretrain: ``pretrain_fraction`` of ``epochs``, rounded half up."""
        return math.floor(self.sampler.pretrain_fraction * self.epochs + 0.5)
