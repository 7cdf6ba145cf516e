"""``lesiongan report``: rebuild an experiment's report, print its verdict, export or check
its results."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer

from lesiongan.cli.console import err, out
from lesiongan.errors import LesionganError


def report(
    exp_dir: Path = typer.Argument(..., metavar="DIR", help="An experiment directory."),
    markdown: bool = typer.Option(
        False,
        "--markdown",
        help="Print the verdict instead (markdown tables and a sentence, as the docs quote it); "
        "writes nothing.",
    ),
    export: Path | None = typer.Option(
        None,
        "--export",
        metavar="DEST",
        help="Write DEST: results, config, every run's metrics and gzipped predictions, the "
        "dataset fingerprint, GAN checkpoint hashes, code revision, figures (what to commit).",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="DIR is an exported results directory: re-derive every summary, interval, call "
        "and CAS from its runs and predictions, and exit 1 if any differs from results.json.",
    ),
    coverage: bool = typer.Option(
        False,
        "--coverage",
        help="DIR is an exported imbalance verdict: simulate null worlds with its design (its "
        "generators, seeds, test labels and seed-to-image variance ratios) and write "
        "DIR/coverage.json, the share of its 95 % intervals that contain the truth.",
    ),
    simulations: int = typer.Option(
        200, "--simulations", min=10, help="With --coverage: simulated worlds per scenario."
    ),
    force: bool = typer.Option(
        False, "--force", help="With --export: replace DEST; with --coverage: DIR/coverage.json."
    ),
) -> None:
    """Rebuild DIR/report.html from DIR/results.json (and any audit or Turing results in DIR);
    for a generators experiment, DIR/results.md and DIR/figures.

    With --markdown, print the verdict of an imbalance experiment: each strategy's metrics with
    intervals and its paired difference from the best real-only strategy, each synthetic
    variant's realism and CAS, and whether any synthetic strategy beats the reference. For a
    generators experiment, print its tables (results.md).
    """
    if export is not None:
        from lesiongan.experiments.export import export_results

        _exportable(exp_dir)
        with _malformed_results(exp_dir):
            dest = export_results(exp_dir, export, force)
        out.print(f"exported to {dest}")
        return
    if coverage:
        _coverage(exp_dir, simulations, force)
        return
    if check:
        from lesiongan.experiments.export import check as check_export

        differ = check_export(exp_dir)
        if differ:
            err.print(f"{exp_dir}: re-derived {', '.join(differ)} differ from results.json")
            raise typer.Exit(1)
        out.print(f"{exp_dir}: every derived number re-derived from the runs' predictions")
        return
    with _malformed_results(exp_dir):
        _report(exp_dir, markdown)


def _coverage(exp_dir: Path, simulations: int, force: bool) -> None:
    import json

    from lesiongan.cli.console import progress_bar
    from lesiongan.errors import OutputExistsError
    from lesiongan.experiments.coverage import (
        COVERAGE,
        coverage_study,
        render_coverage_markdown,
    )
    from lesiongan.utils.outdir import write_text_atomic

    dest = exp_dir / COVERAGE
    if dest.exists() and not force:
        raise OutputExistsError(f"{dest}: already exists (use --force to replace it)")
    with _malformed_results(exp_dir), progress_bar("simulated worlds", unit="world") as tick:
        study = coverage_study(exp_dir, n_sims=simulations, progress=tick)
    write_text_atomic(dest, json.dumps(study, indent=1) + "\n")
    typer.echo(render_coverage_markdown(study))
    out.print(f"wrote {dest}")


@contextlib.contextmanager
def _malformed_results(exp_dir: Path) -> Iterator[None]:
    """A results.json with missing or wrong-typed keys is one line naming it, not a traceback
    from deep inside the renderer (the exception's type and message say which key)."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise LesionganError(
            f"{exp_dir / 'results.json'}: missing or malformed entries ({type(exc).__name__}: "
            f"{exc}); write it again with 'lesiongan experiment aggregate {exp_dir}'"
        ) from None


def _exportable(exp_dir: Path) -> None:
    """--export writes an imbalance or scarcity experiment's runs and predictions."""
    from lesiongan.experiments.report import load_results

    if not (exp_dir / "results.json").is_file():
        return  # export_results says so
    kind = load_results(exp_dir).get("experiment")
    if kind not in ("imbalance", "scarcity"):
        raise LesionganError(
            f"{exp_dir / 'results.json'}: --export writes an imbalance or scarcity experiment's "
            f"runs and predictions, not a {kind} experiment's (its tables and figures: "
            f"'lesiongan report {exp_dir}')"
        )


def _report(exp_dir: Path, markdown: bool) -> None:
    from lesiongan.experiments.report import build_report, load_results

    if markdown:
        from lesiongan.experiments.verdict import render_verdict_markdown

        results = load_results(exp_dir)
        if results["experiment"] == "generators":
            from lesiongan.experiments.generators_report import render_generators_markdown

            typer.echo(render_generators_markdown(results))
            return
        if results["experiment"] not in ("imbalance", "scarcity"):
            raise LesionganError(
                f"{exp_dir / 'results.json'}: --markdown renders an imbalance or scarcity "
                f"verdict or a generators comparison, not a {results['experiment']} experiment"
            )
        typer.echo(render_verdict_markdown(results))
        return
    results = load_results(exp_dir)
    if results["experiment"] == "generators":
        from lesiongan.experiments.generators import write_generator_results

        write_generator_results(exp_dir, results)
        out.print(f"wrote {exp_dir / 'results.md'} and {exp_dir / 'figures'}")
        return
    out.print(f"wrote {build_report(exp_dir)}")
