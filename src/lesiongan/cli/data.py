"""``lesiongan data ...``: make, inspect and prepare datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lesiongan.cli.console import err, out, print_problems, progress_bar
from lesiongan.config import load_config, parse_overrides

app = typer.Typer(help="Make, inspect and prepare datasets.", no_args_is_help=True)

WORKERS_HELP = "Worker processes (default: all CPUs)."


@app.command()
def synth(
    out_dir: Path = typer.Argument(
        ..., metavar="OUT", help="Directory to create (ISIC 2017 layout)."
    ),
    n: int = typer.Option(2000, "--n", help="Number of images (ISIC 2017 class proportions)."),
    size: int = typer.Option(
        256, "--size", help="Image height in px; width is 4/3 of it, as in ISIC."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same images."),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Draw the embedded procedural dermoscopy dataset (no download needed).

    Nevi are round, symmetric and evenly brown; melanomas asymmetric, irregular and
    multi-coloured; seborrheic keratoses waxy and light with crypts and milia. A share of the
    images has hair. The output reads like the official ISIC 2017 training set:

        lesiongan data synth demo-src --n 2000 && lesiongan data prepare demo-src --out demo-ds
    """
    from lesiongan.data.synth import SynthConfig, run_synth

    flags = {"n": ("--n", n), "size": ("--size", size), "seed": ("--seed", seed)}
    config = load_config(SynthConfig, flags=flags)
    with progress_bar("synth") as progress:
        result = run_synth(out_dir, config, force=force, workers=workers, progress=progress)
    if result.reused:
        out.print(f"{out_dir}: already finished with this config; nothing to do")
        return
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    n_images = sum(result.counts.values())
    out.print(f"wrote {n_images} images to {result.out} ({counts}; {result.n_hair} with hair)")


@app.command()
def inspect(
    src: Path = typer.Argument(..., metavar="SRC", help="Source dataset directory."),
    format: str = typer.Option(
        "auto", "--format", help="auto, isic2017, ham10000, isic-onehot or folder."
    ),
    size: int = typer.Option(256, "--size", help="Report images smaller than this (px)."),
    quick: bool = typer.Option(False, "--quick", help="Read image headers only (no full decode)."),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
) -> None:
    """Show a source dataset's format, class counts, image sizes and every problem found.

    Exits with 1 when there are problems, so it can guard a script.
    """
    from lesiongan.data.inspect import run_inspect

    with progress_bar("inspect") as progress:
        report = run_inspect(
            src, format, size, decode=not quick, workers=workers, progress=progress
        )
    table = Table(title=f"{report.root}  ({report.format}, {report.n_images} images)")
    table.add_column("class")
    splits = list(report.counts)
    for s in splits:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    for cls in report.classes:
        row = [report.counts[s][cls] for s in splits]
        table.add_row(cls, *map(str, row), str(sum(row)))
    totals = [sum(report.counts[s].values()) for s in splits]
    table.add_row("[bold]all", *map(str, totals), str(sum(totals)))
    out.print(table)
    if report.width_range:
        (w0, w1), (h0, h1) = report.width_range, report.height_range
        out.print(
            f"image size: width {w0}-{w1} px, height {h0}-{h1} px"
            + ("" if report.decoded else " (headers only)")
        )
    if report.problems:
        err.print(f"{len(report.problems)} problem(s):", markup=False)
        print_problems(report.problems)
        raise typer.Exit(1)
    out.print("no problems found")


@app.command()
def prepare(
    src: Path = typer.Argument(
        ..., metavar="SRC", help="Source dataset directory (never written to)."
    ),
    out_dir: Path = typer.Option(..., "--out", help="Prepared dataset directory to create."),
    size: int | None = typer.Option(
        None, "--size", help="Side of the square output images, px [default: 256]."
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="poster: seeded stratified 60/40 train/test of the source's training images; "
        "official: keep the source's own splits [default: poster].",
    ),
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", help="Test share for --split poster [default: 0.4]."
    ),
    test_split: str | None = typer.Option(
        None,
        "--test-split",
        help="With --split official: the source split to test on [default: test]; e.g. val for "
        "ISIC 2017 without its test images (train on all 2000, test on the 150 val images).",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the split [default: 0]."),
    format: str | None = typer.Option(None, "--format", help="Source layout [default: auto]."),
    skip_bad: bool = typer.Option(
        False,
        "--skip-bad",
        help="Leave out bad images (listed in OUT/skipped.csv) instead of failing.",
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML file with these options."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config key: --set size=128."),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Validate every image, centre-crop and resize it, split, and write a prepared dataset.

    The output holds images/<class>/<id>.png, manifest.csv, dataset.json, config.yaml and
    provenance.json. Any problem (corrupt image, missing CSV row, duplicate id, ...) stops the
    stage with the full list and nothing written, unless --skip-bad is given.
    """
    from lesiongan.data.prepare import PrepareConfig, run_prepare

    flags = {
        "size": ("--size", size),
        "split": ("--split", split),
        "test_fraction": ("--test-fraction", test_fraction),
        "test_split": ("--test-split", test_split),
        "seed": ("--seed", seed),
        "format": ("--format", format),
        "skip_bad": ("--skip-bad", True if skip_bad else None),
    }
    config = load_config(PrepareConfig, config_file, parse_overrides(overrides), flags=flags)
    with progress_bar("prepare") as progress:
        result = run_prepare(src, out_dir, config, force=force, workers=workers, progress=progress)
    if result.reused:
        out.print(f"{out_dir}: already finished with this config; nothing to do")
        return
    _print_counts(result.counts, result.classes)
    if result.skipped:
        err.print(
            f"skipped {len(result.skipped)} problem(s) (listed in {result.out / 'skipped.csv'}):",
            markup=False,
        )
        print_problems(result.skipped, limit=20)
    out.print(f"prepared dataset written to {result.out}")


def _print_counts(counts: dict[str, dict[str, int]], classes: tuple[str, ...]) -> None:
    table = Table()
    table.add_column("class")
    for s in counts:
        table.add_column(s, justify="right")
    for cls in classes:
        table.add_row(cls, *(str(counts[s][cls]) for s in counts))
    table.add_row("[bold]all", *(str(sum(counts[s].values())) for s in counts))
    out.print(table)
