"""Typed configuration of a GAN run: networks, loss, optimizer, schedule, augmentation.

Recipes live in ``configs/gan-*.yaml`` and ``configs/sg2-*.yaml``; every key here can be set
there or with ``--set``. Defaults are the PGGAN paper's (Karras et al. 2018, appendix A) at 256 px.
``network.arch`` names the generator family (:mod:`lesiongan.gan.families`), and the
``network:`` section holds that family's keys: :class:`NetworkConfig`'s, plus the family's own
(``network.mapping_layers`` exists for ``stylegan2`` only, see :mod:`lesiongan.gan.stylegan2`).
Configs saved when the section was one flat record of every family's keys still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from lesiongan.config import Config, Seed
from lesiongan.gan import families


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class NetworkConfig(Config):
    """The keys every family's ``network:`` section has; each family's config derives from it
    (:mod:`lesiongan.gan.families`). ``arch`` picks the family and so the section's keys."""

    arch: str = Field(
        "pggan",
        description="generator family (a registered name): pggan (progressive, Karras 2018) or "
        "stylegan2 (full resolution from the start, Karras 2020)",
    )
    resolution: int = Field(256, description="final output side in px: a power of two, 8..1024")
    fmap_base: int = Field(
        16384, description="channels at resolution r: min(fmap_base / r, fmap_max)"
    )
    fmap_max: int = 512
    fmap_min: int = 1
    latent_dim: int = Field(512, ge=1)
    conditional: bool = Field(True, description="one class-conditional network for all classes")
    # Keys that only change how a trained network is sampled, not its weights (they may differ
    # between a checkpoint and the config that resumes or samples it).
    SAMPLING_KEYS: ClassVar[frozenset[str]] = frozenset()

    @field_validator("resolution")
    @classmethod
    def _res(cls, v: int) -> int:
        if not _is_pow2(v) or not 8 <= v <= 1024:
            raise ValueError("must be a power of two from 8 to 1024")
        return v

    def channels(self, res: int) -> int:
        return max(min(self.fmap_base // res, self.fmap_max), self.fmap_min)


class GanNetworkConfig(NetworkConfig):
    """The keys both built-in GAN families add: the label embedding and D's minibatch stddev."""

    embed_dim: int = Field(32, ge=1, description="label embedding size (G)")
    mbstd_group: int = Field(4, ge=1, description="minibatch-stddev group size (D)")


class LossConfig(Config):
    kind: Literal["wgan-gp", "logistic-r1"] = Field(
        "wgan-gp", description="the GAN loss (gan/loss.py): wgan-gp or logistic-r1"
    )
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
        description="path length regularization weight (families with a mapping network: "
        "stylegan2; 2 in the paper); "
        "0 = off, the default, because its double backward through G is slow on CPU",
    )
    pl_interval: int = Field(
        4, ge=1, description="lazy path length regularization: every N G steps"
    )
    pl_decay: float = Field(0.01, gt=0, le=1, description="decay of the running mean path length")
    pl_batch_shrink: int = Field(2, ge=1, description="path length batch = batch // this")

    @model_validator(mode="after")
    def _lazy(self) -> LossConfig:
        if self.r1_interval > 1 and self.kind != "logistic-r1":
            raise ValueError("loss.r1_interval > 1 needs loss.kind: logistic-r1")
        return self


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
    # the family's own section: validated by the config class of the family ``arch`` names
    network: SerializeAsAny[NetworkConfig] = Field(
        default_factory=lambda: families.get_family(families.DEFAULT_FAMILY).network_config()
    )
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    conditioning: ConditioningConfig = Field(default_factory=ConditioningConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    @field_validator("network", mode="before")
    @classmethod
    def _family_section(cls, v: Any) -> Any:
        if isinstance(v, NetworkConfig):
            if type(v) is families.get_family(v.arch).network_config:
                return v
            v = v.model_dump()
        return families.parse_network(v) if isinstance(v, Mapping) else v

    @model_validator(mode="after")
    def _check(self) -> GanConfig:
        if self.schedule.start_resolution > self.network.resolution:
            raise ValueError("schedule.start_resolution is above network.resolution")
        families.get_family(self.network.arch).check_config(self)
        return self
