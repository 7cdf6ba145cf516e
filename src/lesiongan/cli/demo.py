"""``lesiongan demo``: the whole pipeline on the embedded procedural dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from lesiongan.cli.console import err, out, progress_bar


def demo(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="Directory for all demo outputs."),
    quick: bool = typer.Option(False, "--quick", help="A smaller, faster smoke run."),
    force: bool = typer.Option(
        False, "--force", help="Redo every stage, replacing earlier demo outputs."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: all CPUs)."
    ),
) -> None:
    """Run the pipeline end to end on procedural data (no download).

    Stages already finished by an earlier run with the same settings are reused, so an
    interrupted demo continues where it stopped.
    """
    from lesiongan.data.prepare import PrepareConfig, run_prepare
    from lesiongan.data.synth import SynthConfig, run_synth
    from lesiongan.workflows.stages import is_reusable

    source, dataset = out_dir / "source", out_dir / "dataset"
    synth_cfg = (
        SynthConfig(n=300, size=64, seed=0) if quick else SynthConfig(n=2000, size=128, seed=0)
    )
    prepare_cfg = PrepareConfig(size=64 if quick else 128, split="poster", seed=0)
    if is_reusable(source, synth_cfg, force):
        out.print(f"1/2 synth: reusing {source}")
    else:
        with progress_bar("1/2 synth") as progress:
            run_synth(source, synth_cfg, force=force, workers=workers, progress=progress)
    if is_reusable(dataset, prepare_cfg, force):
        out.print(f"2/2 prepare: reusing {dataset}")
    else:
        with progress_bar("2/2 prepare") as progress:
            run_prepare(
                source, dataset, prepare_cfg, force=force, workers=workers, progress=progress
            )
    out.print(f"procedural source: {source}\nprepared dataset:  {dataset}")
    err.print(
        "note: the GAN, classifier, audit and experiment stages have not landed yet "
        "(issues #3-#7); this demo ran the data stages only.",
        markup=False,
    )
