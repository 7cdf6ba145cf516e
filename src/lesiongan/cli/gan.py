"""``lesiongan gan ...``: train a progressive GAN and sample from it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.config import load_config, parse_overrides
from lesiongan.errors import LesionganError
from lesiongan.recipes import resolve_recipe

app = typer.Typer(
    help="Train a class-conditional progressive GAN and sample from it.", no_args_is_help=True
)


@app.command()
def train(
    dataset: Path = typer.Argument(
        ..., metavar="DATASET", help="Prepared dataset (trains on its train split only)."
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Run directory to create (or continue with --resume)."
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="YAML file or bundled recipe name: gan-paper-256, gan-demo, gan-tiny "
        "(default: the paper's 256 px settings).",
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set schedule.stabilize_kimg=100."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue from the run's latest checkpoint: the same command with --resume "
        "(--config must equal the saved one; --set changes keys on purpose).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing run directory."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the resolved config and schedule, then exit."
    ),
) -> None:
    """Train a class-conditional progressive GAN (Karras et al. 2018).

    Grows from 4x4 (or schedule.start_resolution) to network.resolution with fade-ins; WGAN-GP
    (or logistic + R1); DiffAugment with adaptive strength; G_ema for sampling. Writes
    checkpoints, per-tick sample grids (one row per class), stats.jsonl and TensorBoard logs.
    Multi-GPU: torchrun --nproc_per_node=N -m lesiongan gan train ...

        lesiongan gan train demo-out/dataset --out gan-run --config configs/gan-demo.yaml
    """
    from lesiongan.gan.config import GanConfig
    from lesiongan.gan.run import load_run_config, run_training

    if resume and force:
        raise LesionganError(
            "--resume and --force contradict each other: --resume continues the run in --out, "
            "--force starts it again"
        )
    sets = parse_overrides(overrides)
    if resume and config_file is None:
        cfg = load_run_config(out_dir, sets)  # the saved config
    else:
        cfg = load_config(GanConfig, resolve_recipe(config_file) if config_file else None, sets)
    if dry_run:
        _print_plan(cfg)
        return
    _warn_cpu(cfg)
    with TrainProgress() as bar:
        result = run_training(
            dataset,
            out_dir,
            cfg,
            resume=resume,
            force=force,
            progress=bar.update,
            may_change=tuple(sets) if resume else (),
        )
    if result.rank == 0 and result.reused:
        out.print(f"{out_dir}: already finished with this config; nothing to do")
    elif result.rank == 0:
        state = "finished" if result.done else "stopped"
        if result.out_of_time:
            state = f"finished (time budget schedule.max_minutes={cfg.schedule.max_minutes:g})"
        out.print(
            f"{state} at {result.cur_kimg:.1f} of {result.total_kimg:.1f} kimg; "
            f"latest checkpoint {result.checkpoint}"
        )


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., metavar="GAN_RUN", help="A 'gan train' run directory."),
    out_dir: Path = typer.Option(..., "--out", help="Synthetic image directory to create."),
    per_class: str = typer.Option(
        ...,
        "--per-class",
        help="How many per class (1 to 1,000,000 each): melanoma=600,seborrheic_keratosis=700",
    ),
    seed: int = typer.Option(0, "--seed", help="Base seed; image i gets seed*10_000_000 + i."),
    select: str = typer.Option(
        "none",
        "--select",
        show_default=True,
        help="none, or keep the best --keep share of 1/keep times as many candidates per class: "
        "d-score (the discriminator), classifier (probability of the intended class under "
        "--classifier, a classify run on real images only) or realism (k-NN realism in that "
        "classifier's features against the real training images of the class).",
    ),
    keep: float = typer.Option(1.0, "--keep", help="Share of candidates kept with --select."),
    classifier: Path | None = typer.Option(
        None, "--classifier", help="A 'classify train' run (real images only) for selection."
    ),
    truncation: float | None = typer.Option(
        None,
        "--truncation",
        help="StyleGAN2 truncation psi in [0, 1] (default: the run's, 1.0 = none; lower trades "
        "diversity for typical images).",
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="A specific checkpoint (default: latest)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Write synthetic images and manifest.csv (image_id, label, path, seed, checkpoint, d_score).

    Any image can be regenerated from its seed; d_score is the discriminator's score of the
    image. Running the same command again reuses the finished directory.

        lesiongan gan sample gan-run --out syn --per-class melanoma=600 --select d-score --keep 0.3
    """
    from lesiongan.classify.scorer import load_classifier_scorer
    from lesiongan.gan.sample import SampleConfig, parse_per_class, run_sample

    flags = {
        "per_class": ("--per-class", parse_per_class(per_class)),
        "seed": ("--seed", seed),
        "batch_size": ("--batch-size", batch_size),
        "checkpoint": ("--checkpoint", str(checkpoint) if checkpoint else None),
        "device": ("--device", device),
        "select": ("--select", select),
        "keep": ("--keep", keep),
        "classifier": ("--classifier", str(classifier) if classifier else None),
        "truncation_psi": ("--truncation", truncation),
    }
    cfg = load_config(SampleConfig, flags=flags)
    with progress_bar("sample") as progress:
        result = run_sample(
            run_dir,
            out_dir,
            cfg,
            force=force,
            progress=progress,
            scorer_loader=load_classifier_scorer,
        )
    total = sum(cfg.per_class.values())
    if result.reused:
        out.print(f"{result.path}: already sampled with these options; nothing to do")
    else:
        out.print(
            f"wrote {total} synthetic images to {result.path} "
            f"(preview: {result.path / 'preview.png'})"
        )


def _print_plan(cfg) -> None:
    import yaml

    from lesiongan.gan.schedule import build_phases

    out.print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), markup=False)
    table = Table(title="schedule")
    for col in ("phase", "resolution", "kind", "kimg", "batch", "channels"):
        table.add_column(col, justify="right")
    for ph in build_phases(cfg.network, cfg.schedule):
        table.add_row(
            str(ph.index),
            f"{ph.resolution} px",
            ph.kind,
            f"{ph.start_nimg / 1000:g}-{ph.end_nimg / 1000:g}",
            str(ph.batch_size),
            str(cfg.network.channels(ph.resolution)),
        )
    out.print(table)


def _warn_cpu(cfg) -> None:
    import torch

    if (
        cfg.runtime.device in ("auto", "cpu")
        and not torch.cuda.is_available()
        and cfg.network.fmap_max > 64
    ):
        err.print(
            f"note: no GPU found; network.fmap_max={cfg.network.fmap_max} at "
            f"{cfg.network.resolution} px "
            "will be very slow on a CPU (try --config configs/gan-demo.yaml)",
            markup=False,
        )


class TrainProgress:
    """A rich bar over images shown, with the phase, alpha and the last tick's statistics."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn(
                "[bold]gan {task.fields[res]:>5} {task.fields[phase]:<9} a={task.fields[alpha]:.2f}"
            ),
            BarColumn(bar_width=16),
            TextColumn("{task.completed:.1f}/{task.total:.1f} kimg {task.fields[stats]} eta"),
            TimeRemainingColumn(),
            console=err,
        )
        self.task = None

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def update(self, event: dict) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(
                "gan", total=event.get("total_kimg", 0), res="", phase="", alpha=1.0, stats=""
            )
        if "tick_stats" in event:
            s = event["tick_stats"]
            text = (
                f"{s['img_per_s']:.0f} img/s G {s.get('loss_G', float('nan')):+.2f} "
                f"D {s.get('loss_D', float('nan')):+.2f} p {s['augment_p']:.2f}"
            )
            self.progress.update(self.task, stats=text)
            return
        self.progress.update(
            self.task,
            completed=event["kimg"],
            total=event["total_kimg"],
            res=f"{event['resolution']}px",
            phase=event["phase"],
            alpha=event["alpha"],
        )
