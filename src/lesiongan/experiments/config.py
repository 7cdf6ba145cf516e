"""Experiment configs (``experiment imbalance|scarcity CONFIG``): YAML, unknown keys are errors.

Paths in a config are relative to the current directory; ``--set dataset=PATH`` overrides.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.samplers import USES_SYNTHETIC, parse_strategy
from lesiongan.config import Config, Seed

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


# "synthetic-add-R": the dose-response sweep, synthetic : real = R for the minority classes
_ADD = re.compile(r"synthetic-add-(\d+(?:\.\d+)?)")


def expand_strategy(name: str) -> str:
    """An experiment's strategy name -> the ``classify --strategy`` it runs."""
    m = _ADD.fullmatch(name)
    if m:
        return "+".join(parse_strategy("synthetic-add"))
    return "+".join(parse_strategy(STRATEGY_ALIASES.get(name, name)))


def strategy_settings(name: str) -> dict[str, Any]:
    """ClassifyConfig keys an experiment's strategy name sets besides ``strategy``."""
    m = _ADD.fullmatch(name)
    return {"sampler": {"add_ratio": float(m[1])}} if m else {}


class GanStage(Config):
    """The experiment's generator(s): one trained here (``config`` + ``set``), one per seed in
    ``seeds`` (the generator becomes a level of the bootstrap), or finished runs reused."""

    run: str | None = None  # a finished 'gan train' run to reuse (trained on the same dataset)
    # several finished runs (e.g. GAN seeds), each checked: finished, same train split
    runs: list[str] = Field(default_factory=list)
    config: str = "gan-demo"  # recipe name or YAML file to train one
    set: dict[str, Any] = Field(
        default_factory=dict
    )  # overrides of that recipe, e.g. {schedule.stabilize_kimg: 100}
    seeds: list[int] = Field(default_factory=list)  # one GAN per seed, trained here

    @model_validator(mode="after")
    def _one_source(self) -> GanStage:
        given = [k for k in ("run", "runs", "seeds") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"gan: give one of run, runs and seeds, not {' and '.join(given)}")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError("gan.seeds must be distinct and >= 0")
        return self

    def generator_ids(self) -> list[str]:
        """``""`` for the single generator of the original layout; else ``g0``, ``g1``, ..."""
        n = len(self.runs) or len(self.seeds)
        return [f"g{i}" for i in range(n)] if n else [""]


class SampleStage(Config):
    synthetic: str | None = None  # a 'gan sample' directory to reuse instead
    per_class: Literal["balance"] | dict[str, int] = "balance"  # balance: up to the largest class
    seed: int = 0


class SlurmResources(Config):
    """What one stage's SLURM jobs ask for (``launcher.gan`` / ``.sample`` / ``.classify``)."""

    partition: str | None = None  # default: the cluster's default partition
    gpus_per_node: int = Field(0, ge=0)  # gan: > 1 runs torchrun with one process per GPU
    cpus_per_task: int = Field(1, ge=1)  # also the job's torch threads (OMP_NUM_THREADS)
    mem_gb: float | None = Field(None, gt=0)  # default: the cluster's DefMemPerCPU
    timeout_min: int = Field(60, ge=1)
    array_parallelism: int = Field(256, ge=1)  # classifier arrays: tasks running at once
    # any other sbatch option, without the dashes: {account: lab, qos: normal, constraint: a100}
    slurm_additional_parameters: dict[str, Any] = Field(default_factory=dict)
    setup: list[str] = Field(default_factory=list)  # shell lines before the job (module load)


class LauncherConfig(Config):
    """Where the cells run: ``local`` (this machine, ``workers`` at once) or ``slurm`` jobs."""

    kind: Literal["local", "slurm"] = "local"
    folder: str | None = None  # submitit's job files and logs (default: DIR/slurm)
    gan: SlurmResources = SlurmResources(timeout_min=24 * 60)
    sample: SlurmResources = SlurmResources()
    classify: SlurmResources = SlurmResources()


class ClassifierRunsConfig(Config):
    """What every experiment shares: a dataset and classifier runs over seeds."""

    dataset: str  # a prepared dataset (train/test split)
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    classify: dict[str, Any] = Field(
        default_factory=dict
    )  # ClassifyConfig keys for every run (model, epochs, ...)
    bootstrap: int = Field(1000, ge=100)  # resamples for intervals and paired differences
    # classifier runs (and a generators experiment's GANs) in parallel, one torch thread each
    workers: int = Field(1, ge=1)

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
        extra = strategy_settings(strategy)
        sampler = {**(self.classify.get("sampler") or {}), **(extra.get("sampler") or {})}
        return ClassifyConfig.model_validate(
            {
                **self.classify,
                **({"sampler": sampler} if sampler else {}),
                "strategy": expand_strategy(strategy),
                "seed": seed,
                "bootstrap": self.bootstrap,
            }
        )


class ExperimentBase(ClassifierRunsConfig):
    gan: GanStage = GanStage()
    # reference "best": the real-only strategy with the highest mean of this VALIDATION metric
    # (the validation split is carved from train; the test split never chooses anything)
    reference_metric: Literal["macro_auc", "balanced_accuracy"] = "macro_auc"
    margin: float = Field(0.02, gt=0, le=0.2)  # equivalence margin (TOST) on every endpoint
    alpha: float = Field(0.05, gt=0, lt=0.5)  # after Holm over the family of synthetic cells
    sample: SampleStage = SampleStage()
    # not part of the experiment's identity: a directory may be continued with another launcher
    launcher: LauncherConfig = LauncherConfig()

    @field_validator("launcher", mode="before")
    @classmethod
    def _launcher_kind(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v  # `launcher: slurm` for short


def uses_synthetic(strategy: str) -> bool:
    return any(p in USES_SYNTHETIC for p in expand_strategy(strategy).split("+"))


class VariantConfig(Config):
    """One synthetic set of an experiment: sampled from the experiment's GAN, maybe selected."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    select: Literal["none", "d-score", "classifier", "realism"] = "none"
    keep: float = Field(1.0, gt=0, le=1)
    # classifier / realism: the real-only strategy of this experiment whose first-seed run
    # selects (it saw the train split only: the leakage guard checks it)
    classifier: str | None = None
    # the experiment's strategies that use synthetic images to run on this set (default: all)
    strategies: list[str] | None = None
    # images kept per class in this set ("balance" or {class: n}; default: sample.per_class);
    # e.g. fewer for a selected set whose strategies need no more than balance
    per_class: Literal["balance"] | dict[str, int] | None = None

    @model_validator(mode="after")
    def _check(self) -> VariantConfig:
        if (self.select == "none") != (self.keep == 1.0):
            raise ValueError(f"variant {self.name}: select and keep < 1 go together")
        if self.select in ("classifier", "realism") and not self.classifier:
            raise ValueError(f"variant {self.name}: select={self.select} needs classifier")
        return self


class FinetuneCells(Config):
    """A few cells again with another classifier (e.g. full fine-tuning where the experiment's
    cells use cached features): ``cells`` are run names of the experiment (``oversample``,
    ``synthetic-balance@unselected``) or ``reference`` / ``best-synthetic``, chosen on the
    validation split once the other cells finish (:mod:`lesiongan.experiments.finetune`); each
    trained with ``classify`` layered over the
    experiment's ``classify``, for ``seeds``; run names ``ft-NAME``. They are compared with
    ``ft-`` of the reference, a family of their own."""

    cells: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    classify: dict[str, Any] = Field(default_factory=dict)

    @field_validator("classify")
    @classmethod
    def _classify(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("strategy", "seed"):
            if key in v:
                raise ValueError(f"finetune.classify.{key} is set per run by the experiment")
        return v


class ImbalanceConfig(ExperimentBase):
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_STRATEGIES), min_length=1)
    # synthetic sets compared; each strategy that uses synthetic images runs on each variant
    # (run name STRATEGY@VARIANT). Empty: one set, from `sample` (the demo's layout).
    variants: list[VariantConfig] = Field(default_factory=list)
    cas: bool = False  # also train synthetic-only on each variant: CAS = its BA / real-only BA
    # the real-only strategy every other is compared with, besides `none`: "best" = highest mean
    # validation ``reference_metric`` among the real-only strategies run
    reference: str = "best"
    audit: bool = False  # realism of each variant in frozen ImageNet features
    # the input size of the audit's ImageNet features (224 as ImageNet; 128 ~10x cheaper on CPU)
    audit_size: int = Field(224, ge=32, le=512)
    finetune: FinetuneCells | None = None  # some cells again with another classifier

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        for name in v:
            expand_strategy(name)  # ValueError names the bad one
        if len(set(v)) != len(v):
            raise ValueError("strategies must be distinct")
        return v

    @model_validator(mode="after")
    def _variants(self) -> ImbalanceConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct")
        real_only = [s for s in self.strategies if not uses_synthetic(s)]
        with_syn = [s for s in self.strategies if uses_synthetic(s)]
        for v in self.variants:
            unknown = [s for s in v.strategies or [] if s not in with_syn]
            if unknown:
                raise ValueError(
                    f"variant {v.name}: {unknown[0]!r} is not one of the experiment's strategies "
                    f"that use synthetic images ({', '.join(with_syn) or 'none listed'})"
                )
            if v.classifier and v.classifier not in real_only:
                raise ValueError(
                    f"variant {v.name}: classifier must be a real-only strategy of this "
                    f"experiment ({', '.join(real_only) or 'none listed'})"
                )
        if self.variants and self.sample.synthetic:
            raise ValueError("variants are sampled here: drop sample.synthetic")
        if self.reference != "best" and self.reference not in real_only:
            raise ValueError("reference must be 'best' or a real-only strategy of the experiment")
        if (self.cas or self.audit) and "none" not in self.strategies:
            raise ValueError("cas and audit need the real-only baseline 'none' in strategies")
        if self.finetune:
            if not self.variants:
                raise ValueError("finetune needs variants (its cells are named STRATEGY@VARIANT)")
            known = set(self.strategies) | {
                f"{s}@{v.name}" for v in self.variants for s in v.strategies or with_syn
            }
            for name in self.finetune.cells:  # or a name chosen on validation
                if name not in known and name not in ("reference", "best-synthetic"):
                    raise ValueError(f"finetune.cells: {name!r} is not a run of this experiment")
            ClassifyConfig.model_validate({**self.classify, **self.finetune.classify})
        return self


class ScarcityConfig(ExperimentBase):
    """Each fraction trains its own GAN on its own labels: reusing a GAN or sample would leak.

    Finished GAN runs may be reused per fraction (``gan_runs``), each checked to have seen
    exactly that fraction's train split. ``oracle``: the training images a fraction left out,
    used in place of synthetic images by the same strategies (a perfect generator's ceiling).
    """

    fractions: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0], min_length=1)
    strategies: list[str] = Field(default_factory=lambda: ["none", "synthetic-balance"])
    gan_runs: dict[float, list[str]] = Field(default_factory=dict)  # fraction -> finished runs
    oracle: bool = False
    reference: Literal["best"] = "best"  # chosen per fraction, on validation

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
        if self.gan.run or self.gan.runs or self.sample.synthetic:
            raise ValueError(
                "gan.run / gan.runs / sample.synthetic cannot be reused here: each fraction's GAN "
                "must see only that fraction's labelled images (reuse per fraction: gan_runs)"
            )
        unknown = [f for f in self.gan_runs if f not in self.fractions]
        if unknown:
            raise ValueError(f"gan_runs: fraction {unknown[0]:g} is not in fractions")
        if self.gan_runs and self.gan.seeds:
            raise ValueError("give gan_runs (reuse) or gan.seeds (train here), not both")
        return self


class GeneratorEntry(Config):
    """One generator of a head-to-head: trained here from a recipe, or a finished run reused."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    config: str | None = None  # recipe name or YAML file: trained here within the budget
    set: dict[str, Any] = Field(default_factory=dict)  # overrides of that recipe
    run: str | None = None  # a finished 'gan train' run on the same dataset (its own budget)

    @model_validator(mode="after")
    def _one_source(self) -> GeneratorEntry:
        if (self.config is None) == (self.run is None):
            raise ValueError(f"generator {self.name}: give exactly one of config and run")
        if self.run and self.set:
            raise ValueError(f"generator {self.name}: set applies to config, not to a reused run")
        return self


class GeneratorsConfig(ClassifierRunsConfig):
    """``experiment generators``: generator families on equal wall-clock, audited the same way.

    Each generator with a ``config`` trains for ``budget_minutes`` of wall clock
    (``schedule.max_minutes``), ``workers`` of them at once with one torch thread each, keeping a
    checkpoint every ``snapshot_kimg``. ``curve_points`` of those checkpoints, evenly spaced in
    training time, are sampled and audited (the quality-against-time curve). The last
    checkpoint is sampled with ``per_class`` images per class and audited in full: realism
    (FID, KID, precision, recall, density, coverage, within-class MS-SSIM, with the
    real-vs-real floor), memorization (C_T, near-duplicates) and CAS (``synthetic-only``
    classifiers against ``none``, one per seed). All features are those of the real-only
    baseline (``none``, first seed), trained here.
    """

    generators: list[GeneratorEntry] = Field(min_length=1)
    budget_minutes: float = Field(gt=0)  # wall clock per generator trained here
    snapshot_kimg: float = Field(2, gt=0)  # a checkpoint every this many kimg (the curve's grain)
    curve_points: int = Field(5, ge=1)  # audits along training (the last is the final one)
    curve_per_class: int = Field(100, ge=2)  # images per class for each curve audit
    per_class: int = Field(500, ge=2)  # images per class for the final audit and CAS
    cas: bool = True
    memorization: bool = True
    seed: int = Field(0, ge=0)  # sampling seed

    @model_validator(mode="after")
    def _names(self) -> GeneratorsConfig:
        names = [g.name for g in self.generators]
        if len(set(names)) != len(names):
            raise ValueError("generator names must be distinct")
        return self
