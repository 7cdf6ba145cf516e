"""The demo: procedural data -> prepared dataset -> class-conditional PGGAN -> the imbalance
experiment with three synthetic variants (unselected, selected by the discriminator, selected by
a real-trained classifier; each sampled and audited by the experiment) -> memorization audit ->
report: the same comparison as the real-data verdict (``experiment-isic2017-cpu``).

Each stage writes its own directory under the demo folder and is reused when an earlier run
finished it with the same settings; an interrupted GAN run or experiment continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lesiongan.config import load_config
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synth import SynthConfig, run_synth
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.stages import StageFn, ensure_gan, no_progress
from lesiongan.gan.config import GanConfig
from lesiongan.recipes import RECIPES
from lesiongan.utils.outdir import check_holds_only

DEMO_ENTRIES = ("source", "dataset", "gan", "experiment")  # what a demo directory holds


@dataclass
class DemoPlan:
    root: Path
    synth: SynthConfig
    prepare: PrepareConfig
    gan: GanConfig
    quick: bool
    experiment: ImbalanceConfig
    # the fine-structure audit reads the reference 224 px ImageNet features (its probes were
    # fitted on them) of at most this many images per set; memorization reads the experiment's
    # audit_size features, as the realism audit does
    structures_max_images: int = 200

    @property
    def audit_px(self) -> int:
        return self.experiment.audit_size

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
        """The unselected variant's images (the memorization audit's input)."""
        return self.experiment_dir / "synthetic" / self.experiment.variants[0].name


@dataclass
class DemoResult:
    plan: DemoPlan
    reused: list[str] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    audited: list[str] = field(default_factory=list)


def build_demo_plan(root: Path, quick: bool = False) -> DemoPlan:
    root = Path(root)
    """The demo's stages. ``quick`` shrinks sizes (images, GAN, epochs, seeds, audit subsets),
    never methods: both run every strategy of ``experiment-demo`` on every synthetic set."""
    root = Path(root)
    exp_file, structures = RECIPES / "experiment-demo.yaml", 200
    if quick:
        gan = load_config(GanConfig, RECIPES / "gan-tiny.yaml")
        synth, prepare = SynthConfig(n=300, size=64), PrepareConfig(size=32)
        sets = {
            "seeds": [0, 1],
            "classify.epochs": 10,
            "audit_size": 32,
            "audit_set.fid_bootstrap": 0,  # FID without its interval
            "audit_set.ms_ssim_pairs": 50,
            "audit_set.kid_subsets": 20,
            "bootstrap": 200,
            # at most 16 per class (each selected variant draws 1/keep times as many)
            "sample.per_class": {"melanoma": 16, "seborrheic_keratosis": 16},
        }
        structures = 32
    else:
        gan = load_config(GanConfig, RECIPES / "gan-demo.yaml")
        synth, prepare = SynthConfig(n=2000, size=128), PrepareConfig(size=64)
        sets = {}
    paths = {"dataset": str(root / "dataset"), "gan.run": str(root / "gan")}
    experiment = load_config(ImbalanceConfig, exp_file, {**sets, **paths})
    return DemoPlan(root, synth, prepare, gan, quick, experiment, structures)


def run_demo(
    plan: DemoPlan, force: bool = False, workers: int | None = None, stage: StageFn = no_progress
) -> DemoResult:
    result = DemoResult(plan)
    if force:  # it redoes its own stages, never one of another directory it was pointed at
        check_holds_only(plan.root, DEMO_ENTRIES, "the demo")
    with stage("synth") as progress:  # each stage reuses an equal finished output itself
        synth = run_synth(plan.source, plan.synth, force, workers, progress)
    with stage("prepare") as progress:
        prepared = run_prepare(
            plan.source, plan.dataset, plan.prepare, force=force, workers=workers, progress=progress
        )
    result.reused += [name for name, r in (("synth", synth), ("prepare", prepared)) if r.reused]
    if ensure_gan(plan.dataset, plan.gan_run, plan.gan, force, stage):
        result.reused.append("gan")
    from lesiongan.experiments.imbalance import run_imbalance, sample_counts

    result.per_class = sample_counts(plan.dataset, plan.experiment, plan.experiment.cas)
    with stage("experiment") as on_cell:
        result.results = run_imbalance(plan.experiment, plan.experiment_dir, force, stage, on_cell)
    result.audited = _audit(plan, force, stage)
    if result.audited:
        from lesiongan.experiments.report import build_report

        build_report(plan.experiment_dir)  # now with the audit
    return result


def _audit(plan: DemoPlan, force: bool, stage: StageFn) -> list[str]:
    """Memorization and fine structures of the unselected synthetic images, in the frozen
    ImageNet features (the default extractor; memorization at ``plan.audit_px``), into
    ``experiment/audit/``; the experiment audits each variant's realism itself
    (``experiment/audit/VARIANT/realism``)."""
    from lesiongan.evaluate.run import (
        MemorizationConfig,
        StructuresConfig,
        run_memorization,
        run_structures,
    )

    audit = plan.experiment_dir / "audit"
    with stage("audit memorization") as progress:  # reused when equal (same config)
        run_memorization(
            plan.dataset, plan.synthetic, audit / "memorization",
            MemorizationConfig(imagenet_size=plan.audit_px),
            force=force, progress=progress,
        )  # fmt: skip
    with stage("audit structures") as progress:
        run_structures(
            plan.dataset, plan.synthetic, audit / "structures",
            StructuresConfig(max_images=plan.structures_max_images),
            force=force, progress=progress,
        )  # fmt: skip
    realism = [v.name for v in plan.experiment.variants]
    px, n = plan.audit_px, plan.structures_max_images
    return [
        f"realism ({', '.join(realism)}; ImageNet features at {px} px)",
        f"memorization (unselected; {px} px)",
        f"structures (unselected; 224 px, at most {n} images per set)",
    ]
