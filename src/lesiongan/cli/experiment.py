"""``lesiongan experiment imbalance|scarcity`` and ``lesiongan report``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.table import Table

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.config import load_config, parse_overrides
from lesiongan.recipes import resolve_recipe

app = typer.Typer(
    help="Run the imbalance and scarcity experiments and build the report.", no_args_is_help=True
)

CONFIG_HELP = (
    "YAML experiment config (a path or a bundled recipe, e.g. experiment-demo); keys: dataset, "
    "strategies, seeds, classify (classifier options), gan (config/run), sample, workers."
)


@contextlib.contextmanager
def stage_progress(name: str) -> Iterator[Callable[..., None]]:
    """Progress display for a pipeline stage run by a workflow (gan, sample, ...)."""
    if name == "gan":
        from lesiongan.cli.gan import TrainProgress

        with TrainProgress() as bar:
            yield bar.update
    else:
        with progress_bar(name) as progress:
            yield progress


def cell_printer() -> Callable[[str, str, float, int, int], None]:
    def on_cell(key: str, how: str, seconds: float, done: int, total: int) -> None:
        when = "reused" if how == "reused" else f"trained in {seconds:.0f} s"
        err.print(f"[{done}/{total}] {key}: {when}", markup=False, highlight=False)

    return on_cell


@app.command()
def imbalance(
    config_file: Path = typer.Argument(..., metavar="CONFIG", help=CONFIG_HELP),
    out_dir: Path = typer.Option(..., "--out", help="Experiment directory (re-run to continue)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set dataset=ds --set seeds=[0,1]"
    ),
    force: bool = typer.Option(False, "--force", help="Start again, replacing the directory."),
) -> None:
    """The poster's experiment: does adding GAN samples raise minority-class sensitivity?

    Trains the class-conditional GAN on the train split (or reuses gan.run), samples synthetic
    images that balance the classes, trains a classifier for every strategy x seed, and reports
    the mean and 95 % interval over seeds plus the paired difference from 'none' (same seeds,
    same test images, paired bootstrap). Finished runs are skipped when re-run; interrupted ones
    resume. Writes results.json, results.csv and report.html.

        lesiongan experiment imbalance configs/experiment-demo.yaml --out exp --set dataset=ds
    """
    from lesiongan.experiments.config import ImbalanceConfig
    from lesiongan.experiments.imbalance import run_imbalance

    cfg = load_config(ImbalanceConfig, resolve_recipe(config_file), parse_overrides(overrides))
    results = run_imbalance(cfg, out_dir, force, stage_progress, cell_printer())
    print_results(results)
    out.print(f"report: {out_dir / 'report.html'}")


@app.command()
def scarcity(
    config_file: Path = typer.Argument(..., metavar="CONFIG", help=CONFIG_HELP + " And fractions."),
    out_dir: Path = typer.Option(..., "--out", help="Experiment directory (re-run to continue)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set fractions=[0.5,1]"
    ),
    force: bool = typer.Option(False, "--force", help="Start again, replacing the directory."),
) -> None:
    """Label scarcity: balanced accuracy and minority sensitivity vs the number of real labels.

    Nested, stratified fractions of the train split (default 10/25/50/100 %); for each, a GAN
    trained on that fraction only (no peeking at other labels) and classifiers with and without
    its synthetic images, over the seeds.
    """
    from lesiongan.experiments.config import ScarcityConfig
    from lesiongan.experiments.scarcity import run_scarcity

    cfg = load_config(ScarcityConfig, resolve_recipe(config_file), parse_overrides(overrides))
    results = run_scarcity(cfg, out_dir, force, stage_progress, cell_printer())
    table = Table(title="balanced accuracy vs real labels (mean over seeds, 95 % CI)")
    for col in ("fraction", "real labels", "strategy", "balanced accuracy"):
        table.add_column(col, justify="right")
    for p in results["curve"]:
        table.add_row(
            str(p["fraction"]), str(p["n_train"]), p["strategy"], _cell(p["balanced_accuracy"])
        )
    out.print(table)
    out.print(f"report: {out_dir / 'report.html'}")


def report(
    exp_dir: Path = typer.Argument(..., metavar="DIR", help="An experiment directory."),
    markdown: bool = typer.Option(
        False,
        "--markdown",
        help="Print the README's verdict instead (markdown tables and a sentence); writes nothing.",
    ),
) -> None:
    """Rebuild DIR/report.html from DIR/results.json (and any audit or Turing results in DIR).

    With --markdown, print the verdict of an imbalance experiment: each strategy's metrics with
    intervals and its paired difference from the best real-only strategy, each synthetic
    variant's realism and CAS, and whether any synthetic strategy beats the reference.
    """
    from lesiongan.experiments.report import build_report, load_results

    if markdown:
        from lesiongan.errors import LesionganError
        from lesiongan.experiments.verdict import render_verdict_markdown

        results = load_results(exp_dir)
        if results["experiment"] != "imbalance":
            raise LesionganError(
                f"{exp_dir / 'results.json'}: --markdown renders an imbalance experiment's "
                f"verdict, not a {results['experiment']} experiment"
            )
        typer.echo(render_verdict_markdown(results))
        return
    out.print(f"wrote {build_report(exp_dir)}")


def _cell(m: dict) -> str:
    if m["mean"] is None:
        return "-"
    ci = f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m["ci_low"] is not None else ""
    return f"{m['mean']:.3f}{ci}"


def print_results(results: dict) -> None:
    classes = results["classes"]
    keys = ["balanced_accuracy"] + [f"sensitivity_{c}" for c in classes if c != _majority(results)]
    table = Table(title="test results: mean over seeds [95 % CI]; difference from none")
    table.add_column("strategy")
    for k in keys:
        table.add_column(k.replace("sensitivity_", "sens. ").replace("_", " "), justify="right")
    for s in results["strategies"]:
        cells = []
        for k in keys:
            text = _cell(results["summary"][s][k])
            d = results["paired"].get(s, {}).get(k)
            if d and d["diff"] is not None and d["ci_low"] is not None:
                text += f"\nΔ {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            cells.append(text)
        table.add_row(s, *cells)
    out.print(table)


def _majority(results: dict) -> str:
    train = results["dataset"]["counts"]["train"]
    return max(train, key=train.get)
