"""Experiment configs (``experiment imbalance|scarcity CONFIG``): YAML, unknown keys are errors.

Paths in a config are relative to the current directory; ``--set dataset=PATH`` overrides.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.samplers import parse_strategy
from lesiongan.config import Config

# experiment names that are not complete strategies on their own
STRATEGY_ALIASES = {"soft-label": "synthetic-balance+soft-label"}
DEFAULT_STRATEGIES = [
    "none",
    "oversample",
    "class-weight",
    "synthetic-balance",
    "cased",
    "soft-label",
]


def expand_strategy(name: str) -> str:
    """An experiment's strategy name -> the ``classify --strategy`` it runs."""
    return "+".join(parse_strategy(STRATEGY_ALIASES.get(name, name)))


class GanStage(Config):
    run: str | None = None  # a finished 'gan train' run to reuse (trained on the same dataset)
    config: str = "gan-demo"  # recipe name or YAML file to train one
    set: dict[str, Any] = Field(
        default_factory=dict
    )  # overrides of that recipe, e.g. {schedule.stabilize_kimg: 100}


class SampleStage(Config):
    synthetic: str | None = None  # a 'gan sample' directory to reuse instead
    per_class: Literal["balance"] | dict[str, int] = "balance"  # balance: up to the largest class
    seed: int = 0


class ExperimentBase(Config):
    dataset: str  # a prepared dataset (train/test split)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    classify: dict[str, Any] = Field(
        default_factory=dict
    )  # ClassifyConfig keys for every run (model, epochs, ...)
    bootstrap: int = Field(1000, ge=100)  # resamples for intervals and paired differences
    workers: int = Field(1, ge=1)  # classifier runs in parallel (one torch thread each)
    gan: GanStage = GanStage()
    sample: SampleStage = SampleStage()

    @field_validator("seeds")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    @field_validator("classify")
    @classmethod
    def _classify(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("strategy", "seed"):
            if key in v:
                raise ValueError(f"classify.{key} is set per run by the experiment")
        ClassifyConfig.model_validate(v)  # unknown keys and bad values fail here
        return v

    def classify_config(self, strategy: str, seed: int) -> ClassifyConfig:
        return ClassifyConfig.model_validate(
            {
                **self.classify,
                "strategy": expand_strategy(strategy),
                "seed": seed,
                "bootstrap": self.bootstrap,
            }
        )


class ImbalanceConfig(ExperimentBase):
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_STRATEGIES), min_length=1)

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        for name in v:
            expand_strategy(name)  # ValueError names the bad one
        if len(set(v)) != len(v):
            raise ValueError("strategies must be distinct")
        return v


class ScarcityConfig(ExperimentBase):
    """Each fraction trains its own GAN on its own labels: reusing a GAN or sample would leak."""

    fractions: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0], min_length=1)
    strategies: list[str] = Field(default_factory=lambda: ["none", "synthetic-balance"])

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f <= 1 for f in v) or len(set(v)) != len(v):
            raise ValueError("fractions must be distinct and in (0, 1]")
        return sorted(v)

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        for name in v:
            expand_strategy(name)
        return v

    @model_validator(mode="after")
    def _no_reuse(self) -> ScarcityConfig:
        if self.gan.run or self.sample.synthetic:
            raise ValueError(
                "gan.run / sample.synthetic cannot be reused here: each fraction's GAN must see "
                "only that fraction's labelled images"
            )
        return self
