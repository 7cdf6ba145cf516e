"""The demo: procedural data -> prepared dataset -> class-conditional PGGAN -> minority samples
-> the imbalance experiment (every strategy x seeds) -> report.

Each stage writes its own directory under the demo folder and is reused when an earlier run
finished it with the same settings; an interrupted GAN run or experiment continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synth import SynthConfig, run_synth
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.stages import (
    StageFn,
    balance_counts,
    ensure_gan,
    ensure_sample,
    no_progress,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.sample import SampleConfig
from lesiongan.recipes import RECIPES
from lesiongan.utils.stage import open_stage


@dataclass
class DemoPlan:
    root: Path
    synth: SynthConfig
    prepare: PrepareConfig
    gan: GanConfig
    quick: bool
    experiment: ImbalanceConfig

    @property
    def experiment_dir(self) -> Path:
        return self.root / "experiment"

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def gan_run(self) -> Path:
        return self.root / "gan"

    @property
    def synthetic(self) -> Path:
        return self.root / "synthetic"


@dataclass
class DemoResult:
    plan: DemoPlan
    reused: list[str] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    audited: list[str] = field(default_factory=list)


def build_demo_plan(root: Path, quick: bool = False) -> DemoPlan:
    root = Path(root)
    if quick:
        gan = load_config(GanConfig, RECIPES / "gan-tiny.yaml")
        synth, prepare = SynthConfig(n=300, size=64), PrepareConfig(size=32)
        exp_file, sets = (
            RECIPES / "experiment-demo.yaml",
            {
                "seeds": [0, 1],
                "classify.image_size": 16,
                "classify.epochs": 2,
                "bootstrap": 200,
            },
        )
    else:
        gan = load_config(GanConfig, RECIPES / "gan-demo.yaml")
        synth, prepare = SynthConfig(n=2000, size=128), PrepareConfig(size=64)
        exp_file, sets = RECIPES / "experiment-demo.yaml", {}
    paths = {
        "dataset": str(root / "dataset"),
        "gan.run": str(root / "gan"),
        "sample.synthetic": str(root / "synthetic"),
    }
    experiment = load_config(ImbalanceConfig, exp_file, {**sets, **paths})
    return DemoPlan(root, synth, prepare, gan, quick, experiment)


def run_demo(
    plan: DemoPlan, force: bool = False, workers: int | None = None, stage: StageFn = no_progress
) -> DemoResult:
    result = DemoResult(plan)
    if open_stage(plan.source, plan.synth, force=force).is_done:
        result.reused.append("synth")
    else:
        with stage("synth") as progress:
            run_synth(plan.source, plan.synth, force=force, workers=workers, progress=progress)
    if open_stage(plan.dataset, plan.prepare, [plan.source], force=force).is_done:
        result.reused.append("prepare")
    else:
        with stage("prepare") as progress:
            run_prepare(
                plan.source,
                plan.dataset,
                plan.prepare,
                force=force,
                workers=workers,
                progress=progress,
            )
    if ensure_gan(plan.dataset, plan.gan_run, plan.gan, force, stage):
        result.reused.append("gan")
    counts = load_dataset(plan.dataset).info["counts"]["train"]
    per_class = (
        {c: min(n, 16) for c, n in balance_counts(counts).items()}
        if plan.quick
        else balance_counts(counts)
    )
    result.per_class = per_class
    sample_cfg = SampleConfig(per_class=per_class, seed=0)
    if ensure_sample(plan.gan_run, plan.synthetic, sample_cfg, force, stage):
        result.reused.append("sample")
    from lesiongan.experiments.imbalance import run_imbalance

    with stage("experiment") as on_cell:
        result.results = run_imbalance(plan.experiment, plan.experiment_dir, force, stage, on_cell)
    result.audited = _audit(plan, force, stage)
    if result.audited:
        from lesiongan.experiments.report import build_report

        build_report(plan.experiment_dir)  # now with the audit
    return result


def _audit(plan: DemoPlan, force: bool, stage: StageFn) -> list[str]:
    """Realism and memorization of the synthetic images, in the features of the baseline
    classifier (``domain``: no pretrained weights needed), into ``experiment/audit/``."""
    from lesiongan.evaluate.run import (
        MemorizationConfig,
        RealismConfig,
        run_memorization,
        run_realism,
    )

    clf = plan.experiment_dir / "runs" / "none" / f"seed-{plan.experiment.seeds[0]}"
    common = {"features": "domain", "classifier": str(clf)}
    small = {"kid_subsets": 10, "ms_ssim_pairs": 50} if plan.quick else {}
    done = []
    for name, cfg, run in (
        ("realism", RealismConfig(**common, **small), run_realism),
        ("memorization", MemorizationConfig(**common), run_memorization),
    ):
        out = plan.experiment_dir / "audit" / name
        with stage(f"audit {name}") as progress:  # reused when equal (same config)
            run(plan.dataset, plan.synthetic, out, cfg, force=force, progress=progress)
        done.append(name)
    return done
