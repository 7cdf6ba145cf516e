"""``lesiongan demo``: the whole pipeline on the embedded procedural dataset."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.cli.experiment import cell_printer, print_results


def demo(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="Directory for all demo outputs."),
    quick: bool = typer.Option(
        False, "--quick", help="The same methods at smoke size (16 px GAN, 300 images, 2 seeds)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Redo every stage, replacing earlier demo outputs."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: all CPUs)."
    ),
) -> None:
    """Run the pipeline end to end on procedural data (no download).

    synth (2000 images) -> prepare (64 px, poster split) -> class-conditional PGGAN (8 -> 32 px,
    configs/gan-demo.yaml) -> the imbalance experiment (configs/experiment-demo.yaml) with every
    strategy: real-only rebalancing (none, oversample, class-weight) against three synthetic
    sets that balance the training classes (unselected; the best 30 % by the discriminator; the
    best 30 % by a real-trained classifier), each with synthetic-balance, the CASED curriculum,
    the discriminator's soft labels, and alone for CAS; each set audited for realism; 3 seeds;
    every classifier a linear head on cached frozen ImageNet features -> memorization and
    fine-structure audit -> report.html. The same comparison as the real-data verdict. Stages
    finished by an earlier run with the same settings are reused, and an interrupted GAN run or
    experiment continues, so running it again picks up where it stopped.
    """
    from lesiongan.cli.gan import TrainProgress
    from lesiongan.workflows.demo import build_demo_plan, run_demo

    plan = build_demo_plan(out_dir, quick)
    names = {
        "synth": "1/4 synth",
        "prepare": "2/4 prepare",
        "gan": "3/4 gan",
        "experiment": "4/4 experiment",
    }

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[Callable[..., None]]:
        if name == "gan":
            with TrainProgress() as bar:
                yield bar.update
        elif name == "experiment":
            err.print(
                f"{names[name]}: classifiers for every strategy x seed, synthetic variants",
                markup=False,
            )
            yield cell_printer()
        else:
            with progress_bar(names.get(name, name)) as progress:
                yield progress

    result = run_demo(plan, force=force, workers=workers, stage=stage)
    for name in result.reused:
        out.print(f"{names[name]}: reused the finished output of an earlier run")
    wanted = ", ".join(f"{c} {n}" for c, n in result.per_class.items())
    print_results(result.results)
    out.print(
        f"prepared dataset:   {plan.dataset}\n"
        f"GAN run:            {plan.gan_run} (sample grids in {plan.gan_run / 'grids'})\n"
        f"synthetic images:   {plan.experiment_dir / 'synthetic'} (one folder per variant; "
        f"{wanted})\n"
        f"experiment:         {plan.experiment_dir} (results.json, results.csv)\n"
        f"audit:              {plan.experiment_dir / 'audit'} ({', '.join(result.audited)})\n"
        f"report:             {plan.experiment_dir / 'report.html'}"
    )
