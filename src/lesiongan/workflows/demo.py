"""The demo: procedural data -> prepared dataset -> class-conditional PGGAN -> minority samples.

Each stage writes its own directory under the demo folder and is reused when an earlier run
finished it with the same settings; an interrupted GAN run is resumed. (The classifier and
experiment stages join when their issues land.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synth import SynthConfig, run_synth
from lesiongan.gan.checkpoint import list_checkpoints
from lesiongan.gan.config import GanConfig
from lesiongan.gan.run import run_training
from lesiongan.gan.sample import SampleConfig, run_sample
from lesiongan.recipes import RECIPES
from lesiongan.workflows.stages import is_reusable

StageFn = Callable[[str], contextlib.AbstractContextManager[Callable[..., None]]]


@dataclass
class DemoPlan:
    root: Path
    synth: SynthConfig
    prepare: PrepareConfig
    gan: GanConfig
    quick: bool

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


def build_demo_plan(root: Path, quick: bool = False) -> DemoPlan:
    if quick:
        gan = load_config(GanConfig, RECIPES / "gan-tiny.yaml")
        return DemoPlan(root, SynthConfig(n=300, size=64), PrepareConfig(size=32), gan, quick)
    gan = load_config(GanConfig, RECIPES / "gan-demo.yaml")
    return DemoPlan(root, SynthConfig(n=2000, size=128), PrepareConfig(size=64), gan, quick)


def balance_counts(counts: dict[str, int]) -> dict[str, int]:
    """Synthetic images per class that bring every class up to the largest (the poster's idea)."""
    top = max(counts.values())
    return {c: top - n for c, n in counts.items() if top - n > 0}


@contextlib.contextmanager
def _no_progress(_name: str) -> Iterator[Callable[..., None]]:
    yield lambda *a, **k: None


def run_demo(
    plan: DemoPlan, force: bool = False, workers: int | None = None, stage: StageFn = _no_progress
) -> DemoResult:
    result = DemoResult(plan)
    if is_reusable(plan.source, plan.synth, force):
        result.reused.append("synth")
    else:
        with stage("synth") as progress:
            run_synth(plan.source, plan.synth, force=force, workers=workers, progress=progress)
    if is_reusable(plan.dataset, plan.prepare, force):
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
    _train_gan(plan, force, result, stage)
    counts = load_dataset(plan.dataset).info["counts"]["train"]
    per_class = (
        {c: min(n, 16) for c, n in balance_counts(counts).items()}
        if plan.quick
        else balance_counts(counts)
    )
    result.per_class = per_class
    sample_cfg = SampleConfig(per_class=per_class, seed=0)
    if is_reusable(plan.synthetic, sample_cfg, force):
        result.reused.append("sample")
    else:
        with stage("sample") as progress:
            run_sample(plan.gan_run, plan.synthetic, sample_cfg, force=force, progress=progress)
    return result


def _train_gan(plan: DemoPlan, force: bool, result: DemoResult, stage: StageFn) -> None:
    resume = False
    if plan.gan_run.exists() and not force:
        is_reusable(plan.gan_run, plan.gan)  # raises when made with other settings
        if _state(plan.gan_run) == "done":
            result.reused.append("gan")
            return
        # an interrupted run continues from its last checkpoint; one without any starts again
        resume = bool(list_checkpoints(plan.gan_run))
    with stage("gan") as progress:
        run_training(
            plan.dataset, plan.gan_run, plan.gan, resume=resume, force=not resume, progress=progress
        )


def _state(run: Path) -> str | None:
    path = run / "status.json"
    return json.loads(path.read_text()).get("state") if path.is_file() else None
