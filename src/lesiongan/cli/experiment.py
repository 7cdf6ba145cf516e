"""``lesiongan experiment imbalance|scarcity|generators|status|aggregate`` and the tables they
print."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.table import Table

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.config import load_config, parse_overrides
from lesiongan.errors import LesionganError
from lesiongan.evaluate import metrics as registry
from lesiongan.recipes import resolve_recipe

app = typer.Typer(
    help="Run the imbalance, scarcity and generator experiments and build the report.",
    no_args_is_help=True,
)

CONFIG_HELP = (
    "YAML experiment config (a path or a bundled recipe, e.g. experiment-demo); keys: dataset, "
    "strategies, seeds, classify (classifier options), gan (config/run), sample, workers, "
    "launcher (local or slurm, with per-stage SLURM resources)."
)
LAUNCHER_HELP = (
    "local: run the cells here (workers at once). slurm: submit every unfinished cell as a "
    "SLURM job (classifier cells as job arrays) and return; see `experiment status`. "
    "Default: the config's launcher.kind."
)
WAIT_HELP = "With --launcher slurm: wait for the jobs, then aggregate (results.json, report)."
TIMEOUT_HELP = "With --wait: give up after this many minutes (default: as long as it takes)."


def _launch(
    kind: str,
    cfg,
    out_dir: Path,
    force: bool,
    launcher: str | None,
    wait: bool,
    timeout_min: float | None = None,
):
    """Local: None (the caller runs the experiment). SLURM: submit, maybe wait and aggregate."""
    if launcher:
        cfg = cfg.model_copy(
            update={"launcher": cfg.launcher.model_copy(update={"kind": launcher})}
        )
    if cfg.launcher.kind == "local":
        return cfg, None
    from lesiongan.experiments.slurm import submit_experiment

    submitted = submit_experiment(kind, cfg, out_dir, force)
    for key, r in submitted.items():
        after = f" after {','.join(r['after'])}" if r["after"] else ""
        out.print(f"{r['job_id']}\t{key}{after}", markup=False)
    err.print(f"submitted {len(submitted)} jobs; record in {out_dir / 'jobs.json'}")
    if not wait:
        err.print(f"watch: lesiongan experiment status {out_dir}")
        raise typer.Exit(0)
    return cfg, _wait_and_aggregate(out_dir, timeout_min=timeout_min)


def _wait_and_aggregate(
    out_dir: Path, poll_s: float = 10.0, timeout_min: float | None = None
) -> dict:
    from lesiongan.experiments.slurm import aggregate_experiment, wait_experiment

    timeout_s = None if timeout_min is None else timeout_min * 60
    rows = wait_experiment(out_dir, poll_s, timeout_s=timeout_s)
    failed = [r for r in rows if r.state == "failed"]
    if failed:
        print_status(rows)
        raise LesionganError(
            f"{out_dir}: {len(failed)} jobs failed (first {failed[0].key}: {failed[0].error}); "
            "run the same command again to resubmit them"
        )
    return aggregate_experiment(out_dir)


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
    launcher: str | None = typer.Option(None, "--launcher", help=LAUNCHER_HELP),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    wait_timeout: float | None = typer.Option(None, "--wait-timeout", min=0, help=TIMEOUT_HELP),
) -> None:
    """Class imbalance: does adding GAN images beat the best real-only rebalancing?

    Trains the class-conditional GAN on the train split (or reuses gan.run / gan.runs), samples
    synthetic sets (variants: unselected or selected), trains a classifier for every strategy x
    seed, and compares each cell with the reference real-only strategy chosen on validation:
    mean and 95 % interval over seeds, paired differences on the same seeds and test images,
    equivalence (TOST) and Holm on the AUC endpoints. Finished runs are skipped when re-run,
    interrupted ones resume, and a finished experiment may grow (more seeds, strategies,
    variants, or a finetune: block): only the new cells run. Writes results.json, results.csv
    and report.html.

        lesiongan experiment imbalance configs/experiment-demo.yaml --out exp --set dataset=ds
    """
    from lesiongan.experiments.config import ImbalanceConfig
    from lesiongan.experiments.imbalance import run_imbalance

    cfg = load_config(ImbalanceConfig, resolve_recipe(config_file), parse_overrides(overrides))
    cfg, results = _launch(
        "imbalance", cfg, out_dir, force, _check_launcher(launcher), wait, wait_timeout
    )
    if results is None:
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
    launcher: str | None = typer.Option(None, "--launcher", help=LAUNCHER_HELP),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    wait_timeout: float | None = typer.Option(None, "--wait-timeout", min=0, help=TIMEOUT_HELP),
) -> None:
    """Label scarcity: balanced accuracy and minority sensitivity vs the number of real labels.

    Nested, stratified fractions of the train split (default 10/25/50/100 %); for each, a GAN
    trained on that fraction only (no peeking at other labels) and classifiers with and without
    its synthetic images, over the seeds.
    """
    from lesiongan.experiments.config import ScarcityConfig
    from lesiongan.experiments.scarcity import run_scarcity

    cfg = load_config(ScarcityConfig, resolve_recipe(config_file), parse_overrides(overrides))
    cfg, results = _launch(
        "scarcity", cfg, out_dir, force, _check_launcher(launcher), wait, wait_timeout
    )
    if results is None:
        results = run_scarcity(cfg, out_dir, force, stage_progress, cell_printer())
    print_curve(results)
    out.print(f"report: {out_dir / 'report.html'}")


@app.command()
def generators(
    config_file: Path = typer.Argument(
        ...,
        metavar="CONFIG",
        help="YAML config (a path or a bundled recipe, e.g. generators-demo); keys: dataset, "
        "generators (name + config or run), budget_minutes, snapshot_kimg, curve_points, "
        "curve_per_class, per_class, cas, memorization, seeds, classify, workers.",
    ),
    out_dir: Path = typer.Option(..., "--out", help="Experiment directory (re-run to continue)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set dataset=ds --set budget_minutes=45"
    ),
    force: bool = typer.Option(False, "--force", help="Start again, replacing the directory."),
) -> None:
    """Generator families head to head on equal wall-clock compute.

    Trains each listed generator (e.g. PGGAN and StyleGAN2) for the same budget_minutes
    (workers at once, one core each), or reuses a finished run (a GPU run, say). Audits
    checkpoints along training (the quality-against-time curve) and the final one in the
    frozen ImageNet features at equal n: FID (with its interval and FID∞), KID, precision,
    recall, density, coverage and within-class MS-SSIM with the real-vs-real floor, per class
    and overall; C_T and near-duplicates (with nearest-neighbour grids); the prevalence of hair,
    vignette, ruler and ink marks; CAS (synthetic-only classifiers, one per seed). Writes
    results.json, results.md (the tables) and figures/ (curve.png, grid-CLASS.png: real | each
    generator, nn-NAME-closest|random.png: synthetic images beside their nearest training ones).

        lesiongan experiment generators generators-demo --out gens --set dataset=ds
    """
    from lesiongan.experiments.config import GeneratorsConfig
    from lesiongan.experiments.generators import run_generators

    cfg = load_config(GeneratorsConfig, resolve_recipe(config_file), parse_overrides(overrides))
    results = run_generators(cfg, out_dir, force, stage_progress, cell_printer())
    print_generators(results)
    out.print(f"tables: {out_dir / 'results.md'}; figures: {out_dir / 'figures'}")


def print_generators(results: dict) -> None:
    table = Table(title=f"generators, {results['budget_minutes']:g} min each (final checkpoint)")
    keys = registry.keys_in("curve")
    for col in ("generator", "kimg", *(registry.label(k) for k in keys), "CAS"):
        table.add_column(col, justify="right")
    for name, g in results["generators"].items():
        r, cas = g["realism"], g.get("cas") or {}
        table.add_row(
            name,
            f"{g['training']['kimg']:.1f}",
            *(f"{r[k]:.3g}" if r.get(k) is not None else "-" for k in keys),
            f"{cas['cas']:.2f}" if cas.get("cas") is not None else "-",
        )
    f = results["floor"]
    table.add_row(
        "real vs real",
        "",
        *(f"{f[k]:.3g}" if f.get(k) is not None else "-" for k in keys),
        "1",
    )
    out.print(table)


def print_curve(results: dict) -> None:
    table = Table(title="balanced accuracy vs real labels (mean over seeds, 95 % CI)")
    for col in ("fraction", "real labels", "strategy", "balanced accuracy"):
        table.add_column(col, justify="right")
    for p in results["curve"]:
        table.add_row(
            str(p["fraction"]), str(p["n_train"]), p["strategy"], _cell(p["balanced_accuracy"])
        )
    out.print(table)


def _check_launcher(value: str | None) -> str | None:
    if value not in (None, "local", "slurm"):
        raise typer.BadParameter(f"{value!r}: use local or slurm", param_hint="--launcher")
    return value


@app.command()
def status(
    exp_dir: Path = typer.Argument(..., metavar="DIR", help="An experiment directory."),
) -> None:
    """Every job of an experiment: pending / running / done / failed, its log, its last error.

    Done comes from the stage directory; pending, running and failed from SLURM (squeue) and
    the job's result file. Exit status 1 when a job failed.
    """
    from lesiongan.experiments.slurm import experiment_status

    rows = experiment_status(exp_dir)
    print_status(rows)
    if any(r.state == "failed" for r in rows):
        raise typer.Exit(1)


def print_status(rows: list) -> None:
    table = Table(title="experiment jobs")
    for col in ("job", "stage", "state", "SLURM id", "log"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.key, r.stage, r.state, r.job_id or "-", r.log or "")
    out.print(table)
    for r in rows:  # whole lines, not folded into the table: easy to copy and grep
        if r.state == "failed":
            out.print(f"failed {r.key}: {r.error}", markup=False)
            if r.log:
                out.print(f"  log: {r.log}", markup=False)
    counts = {s: sum(r.state == s for r in rows) for s in ("done", "running", "pending", "failed")}
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()), markup=False)


@app.command()
def aggregate(
    exp_dir: Path = typer.Argument(..., metavar="DIR", help="An experiment directory."),
    wait: bool = typer.Option(False, "--wait", help="Wait for pending and running jobs first."),
    wait_timeout: float | None = typer.Option(None, "--wait-timeout", min=0, help=TIMEOUT_HELP),
) -> None:
    """Write results.json, results.csv and report.html once every job of DIR is done."""
    from lesiongan.experiments.slurm import aggregate_experiment

    results = (
        _wait_and_aggregate(exp_dir, timeout_min=wait_timeout)
        if wait
        else aggregate_experiment(exp_dir)
    )
    if results["experiment"] == "imbalance":
        print_results(results)
    elif results["experiment"] == "generators":
        print_generators(results)
    else:
        print_curve(results)
    out.print(f"report: {exp_dir / 'report.html'}")


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
