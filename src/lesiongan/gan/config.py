"""Typed configuration of a GAN run: networks, loss, optimizer, schedule, augmentation.

Recipes live in ``configs/gan-*.yaml`` and ``configs/sg2-*.yaml``; every key here can be set
there or with ``--set``. Defaults are the PGGAN paper's (Karras et al. 2018, appendix A) at 256 px;
``network.arch: stylegan2`` selects the second family (Karras et al. 2020a/b), whose own keys
default to StyleGAN2's values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lesiongan.config import Config, Seed


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class NetworkConfig(Config):
    arch: Literal["pggan", "stylegan2"] = Field(
        "pggan",
        description="generator family: pggan (progressive, Karras 2018) or stylegan2 "
        "(full resolution from the start, Karras 2020)",
    )
    resolution: int = Field(256, description="final output side in px: a power of two, 8..1024")
    fmap_base: int = Field(
        16384, description="channels at resolution r: min(fmap_base / r, fmap_max)"
    )
    fmap_max: int = 512
    fmap_min: int = 1
    latent_dim: int = Field(512, ge=1)
    conditional: bool = Field(True, description="one class-conditional network for all classes")
    embed_dim: int = Field(32, ge=1, description="label embedding size concatenated to z (G)")
    mbstd_group: int = Field(4, ge=1, description="minibatch-stddev group size (D)")
    mapping_layers: int = Field(
        8, ge=1, description="stylegan2: FC layers of the mapping network (8 in the paper)"
    )
    mapping_lr_mult: float = Field(
        0.01, gt=0, description="stylegan2: learning-rate multiplier of the mapping network"
    )
    truncation_psi: float = Field(
        1.0,
        ge=0,
        description="stylegan2: sampling truncation towards the tracked mean w of the class "
        "(1 = none); a sampling setting, ignored while training and on resume checks",
    )

    @field_validator("resolution")
    @classmethod
    def _res(cls, v: int) -> int:
        if not _is_pow2(v) or not 8 <= v <= 1024:
            raise ValueError("must be a power of two from 8 to 1024")
        return v

    def channels(self, res: int) -> int:
        return max(min(self.fmap_base // res, self.fmap_max), self.fmap_min)


class LossConfig(Config):
    kind: Literal["wgan-gp", "logistic-r1"] = "wgan-gp"
    gp_lambda: float = Field(10.0, ge=0, description="WGAN-GP gradient penalty weight")
    gp_target: float = Field(1.0, gt=0)
    drift: float = Field(0.001, ge=0, description="epsilon_drift * E[D(real)^2] (WGAN-GP)")
    r1_gamma: float = Field(10.0, ge=0, description="R1 penalty weight (logistic loss)")
    r1_interval: int = Field(
        1,
        ge=1,
        description="lazy R1: penalize every N-th D step with gamma * N (StyleGAN2: 16); "
        "1 = every step",
    )
    pl_weight: float = Field(
        0.0,
        ge=0,
        description="stylegan2: path length regularization weight (2 in the paper); "
        "0 = off, the default, because its double backward through G is slow on CPU",
    )
    pl_interval: int = Field(
        4, ge=1, description="lazy path length regularization: every N G steps"
    )
    pl_decay: float = Field(0.01, gt=0, le=1, description="decay of the running mean path length")
    pl_batch_shrink: int = Field(2, ge=1, description="path length batch = batch // this")


class OptimConfig(Config):
    lr: float = Field(1e-3, gt=0)
    beta1: float = Field(0.0, ge=0, lt=1)
    beta2: float = Field(0.99, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    ema_kimg: float = Field(
        11.1, gt=0, description="G_ema half-life in kimg (the paper's 0.999 per step at batch 16)"
    )
    ema_rampup: float | None = Field(
        0.05, gt=0, description="half-life at most this share of the images seen so far (null: off)"
    )
    reset_on_grow: bool = Field(
        True, description="fresh Adam state when a resolution is added (paper)"
    )


class ScheduleConfig(Config):
    start_resolution: int = Field(4, description="first resolution trained (4 in the paper)")
    stabilize_kimg: float = Field(800, gt=0, description="kimg per stabilization phase")
    fade_kimg: float = Field(800, gt=0, description="kimg per fade-in phase")
    final_kimg: float | None = Field(
        None, description="kimg at the final resolution (default: stabilize_kimg)"
    )
    batch_size: dict[int, int] = Field(default_factory=lambda: {256: 14, 512: 6, 1024: 3})
    default_batch: int = Field(16, ge=1)
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="stop after this many minutes of training, summed over resumes (the run "
        "then counts as finished); for equal-compute comparisons. Null = the kimg schedule",
    )

    @field_validator("start_resolution")
    @classmethod
    def _start(cls, v: int) -> int:
        if not _is_pow2(v) or v < 4:
            raise ValueError("must be a power of two >= 4")
        return v

    def batch_for(self, res: int) -> int:
        return self.batch_size.get(res, self.default_batch)


class AugmentConfig(Config):
    policy: str = Field(
        "color,translation,cutout", description="DiffAugment ops, comma-separated ('' = none)"
    )
    p: float = Field(0.0, ge=0, le=1, description="initial augmentation probability")
    ada_target: float | None = Field(
        0.6, description="target of r_t = E[sign(D(real))]; null = fixed p"
    )
    ada_kimg: float = Field(100, gt=0, description="kimg for p to go from 0 to 1 at most")
    ada_interval: int = Field(4, ge=1, description="steps between p updates")


class ConditioningConfig(Config):
    transition_kimg: tuple[float, float] | None = Field(
        None,
        description="transitional conditioning (Shahbazi et al. 2022): [start, end] kimg over "
        "which the class signal fades in from 0 to 1 (null = conditional from the start)",
    )

    @field_validator("transition_kimg")
    @classmethod
    def _range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0 <= v[0] <= v[1]:
            raise ValueError("must be [start, end] with 0 <= start <= end")
        return v


class DataConfig(Config):
    classes: list[str] | None = Field(
        None, description="train on these classes only (default: all)"
    )
    mirror: bool = Field(
        True, description="random horizontal and vertical flips (dermoscopy has no up)"
    )


class LogConfig(Config):
    tick_kimg: float = Field(4, gt=0, description="kimg between progress ticks (stats, grid)")
    snapshot_ticks: int = Field(10, ge=1, description="ticks between checkpoints")
    keep_checkpoints: int = Field(3, ge=1)
    grid_per_class: int = Field(8, ge=1, description="columns of the per-tick sample grid")
    tensorboard: bool = True


class RuntimeConfig(Config):
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool | None = Field(None, description="default: on for CUDA")
    compile: bool = False
    max_rollbacks: int = Field(3, ge=0, description="NaN/Inf recoveries before giving up")


class GanConfig(Config):
    seed: Seed = 0
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    conditioning: ConditioningConfig = Field(default_factory=ConditioningConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    @model_validator(mode="after")
    def _check(self) -> GanConfig:
        if self.schedule.start_resolution > self.network.resolution:
            raise ValueError("schedule.start_resolution is above network.resolution")
        sg2 = self.network.arch == "stylegan2"
        if self.loss.pl_weight > 0 and not sg2:
            raise ValueError("loss.pl_weight > 0 needs network.arch: stylegan2")
        if self.network.truncation_psi != 1.0 and not sg2:
            raise ValueError("network.truncation_psi != 1 needs network.arch: stylegan2")
        if self.loss.r1_interval > 1 and self.loss.kind != "logistic-r1":
            raise ValueError("loss.r1_interval > 1 needs loss.kind: logistic-r1")
        return self
