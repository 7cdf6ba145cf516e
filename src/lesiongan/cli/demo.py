"""``lesiongan demo``: the whole pipeline on the embedded procedural dataset."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from lesiongan.cli.console import err, out, progress_bar


def demo(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="Directory for all demo outputs."),
    quick: bool = typer.Option(False, "--quick", help="A small smoke run (16 px GAN, 300 images)."),
    force: bool = typer.Option(
        False, "--force", help="Redo every stage, replacing earlier demo outputs."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: all CPUs)."
    ),
) -> None:
    """Run the pipeline end to end on procedural data (no download).

    synth (2000 images) -> prepare (64 px, poster split) -> class-conditional PGGAN (8 -> 32 px,
    configs/gan-demo.yaml) -> synthetic minority images that balance the training classes.
    Stages finished by an earlier run with the same settings are reused, and an interrupted GAN
    run is resumed, so running it again continues where it stopped.
    """
    from lesiongan.cli.gan import TrainProgress
    from lesiongan.workflows.demo import build_demo_plan, run_demo

    plan = build_demo_plan(out_dir, quick)
    names = {
        "synth": "1/4 synth",
        "prepare": "2/4 prepare",
        "gan": "3/4 gan",
        "sample": "4/4 sample",
    }

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[Callable[..., None]]:
        if name == "gan":
            with TrainProgress() as bar:
                yield bar.update
        else:
            with progress_bar(names[name]) as progress:
                yield progress

    result = run_demo(plan, force=force, workers=workers, stage=stage)
    for name in result.reused:
        out.print(f"{names[name]}: reused the finished output of an earlier run")
    wanted = ", ".join(f"{c} {n}" for c, n in result.per_class.items())
    out.print(
        f"procedural source:  {plan.source}\nprepared dataset:   {plan.dataset}\n"
        f"GAN run:            {plan.gan_run} (sample grids in {plan.gan_run / 'grids'})\n"
        f"synthetic images:   {plan.synthetic} ({wanted}; preview {plan.synthetic / 'preview.png'})"
    )
    err.print(
        "note: the classifier, audit and experiment stages have not landed yet (issues #4-#6); "
        "this demo stops after sampling synthetic minority images.",
        markup=False,
    )
