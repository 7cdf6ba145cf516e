"""``lesiongan experiment scarcity``: how the classifier scales with the number of real labels.

For each fraction of the training split (stratified, seeded and nested: the 10 % subset lies
inside the 25 % one, and so on) a sub-dataset is written (``data/frac-<f>/``: a manifest with
only that fraction's training rows plus the full test split; images are shared through a link,
not copied). Everything downstream sees only the sub-dataset, so the GAN of a fraction is
trained on that fraction's labelled images alone: no peeking at labels the fraction does not
have. Then classifiers with and without synthetic images (``strategies``) run over the seeds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.classify.samplers import USES_SYNTHETIC
from lesiongan.config import Config, save_config
from lesiongan.data.manifest import (
    build_dataset_info,
    dataset_fingerprint,
    load_dataset,
    save_dataset,
)
from lesiongan.experiments.aggregate import summarize, summary_keys
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import ScarcityConfig, expand_strategy
from lesiongan.experiments.imbalance import (
    balance_per_class,
    build_cells,
    dataset_summary,
    gan_job,
    relative_path,
)
from lesiongan.experiments.jobs import Job, Plan, SampleTask, cell_jobs, read_metrics
from lesiongan.gan.sample import SampleConfig
from lesiongan.utils.outdir import atomic_output_dir, write_text_atomic
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import DONE, open_stage, write_status


def nested_fractions(
    labels: list[str], fractions: list[float], seed: int
) -> dict[float, np.ndarray]:
    """Index sets per fraction, stratified by label and nested (smaller inside larger).

    Each class's items are put in one seeded random order; a fraction takes the first
    ``max(1, round(f * n_c))`` of them, so every class keeps at least one labelled image.
    """
    rng = np.random.default_rng(seed)
    order: dict[str, np.ndarray] = {}
    for c in sorted(set(labels)):
        idx = np.flatnonzero(np.asarray(labels) == c)
        order[c] = idx[rng.permutation(idx.size)]
    out = {}
    for f in sorted(fractions):
        take = [o[: max(1, int(np.floor(f * o.size + 0.5)))] for o in order.values()]
        out[f] = np.sort(np.concatenate(take))
    return out


class FractionConfig(Config):
    """What defines a fraction dataset: its parent (by fingerprint), the fraction, the rows."""

    parent_fingerprint: str
    fraction: float
    train_ids_sha256: str


def write_fraction_dataset(
    parent: Path, out: Path, keep_train: np.ndarray, fraction: float, force: bool = False
) -> Path:
    """A prepared dataset holding ``keep_train`` of the parent's train rows and all test rows.

    A stage like any other: written atomically, reused when equal, refused when different.
    """
    task = FractionTask(Path(parent), Path(out), tuple(int(i) for i in keep_train), fraction)
    if open_stage(out, task.config(), [parent], force=force).is_done:
        return out
    task.write(force)
    return out


@dataclass(frozen=True)
class FractionTask:
    """The experiment job that writes a fraction's dataset (links, not copies: cheap)."""

    parent: Path
    out: Path
    keep: tuple[int, ...]  # indices into the parent's train rows
    fraction: float

    def config(self) -> FractionConfig:
        train = load_dataset(self.parent, check_files=False).split_rows("train")
        ids = "\n".join(train[i].image_id for i in self.keep).encode()
        return FractionConfig(
            parent_fingerprint=dataset_fingerprint(self.parent),
            fraction=self.fraction,
            train_ids_sha256=hashlib.sha256(ids).hexdigest(),
        )

    def state(self) -> str:
        return open_stage(self.out, self.config(), [self.parent]).state

    def __call__(self, progress=None, workers=None) -> None:
        if not open_stage(self.out, self.config(), [self.parent]).is_done:
            self.write(False)

    def write(self, force: bool) -> None:
        ds = load_dataset(self.parent)
        train = ds.split_rows("train")
        rows = [train[i] for i in self.keep] + ds.split_rows("test")
        with atomic_output_dir(self.out, [self.parent], force=force) as tmp:
            for top in {Path(r.path).parts[0] for r in rows}:
                os.symlink((self.parent / top).resolve(), tmp / top, target_is_directory=True)
            info = build_dataset_info(
                rows,
                ds.classes,
                int(ds.info.get("image_size") or 0),
                int(ds.info.get("seed") or 0),
                parent=str(self.parent.resolve()),
                fraction=self.fraction,
            )
            save_dataset(tmp, rows, info)
            save_config(self.config(), tmp / "config.yaml")
            save_provenance(tmp, "scarcity fraction", {"parent": str(self.parent.resolve())})


def plan_scarcity(cfg: ScarcityConfig, out: Path) -> Plan:
    """Per fraction: its dataset (links to the parent's images), its GAN and sample when a
    strategy uses synthetic images, and its cells."""
    out, dataset = Path(out), Path(cfg.dataset)
    ds = load_dataset(dataset)
    train = ds.split_rows("train")
    subsets = nested_fractions([r.label for r in train], cfg.fractions, cfg.seeds[0])
    jobs: list[Job] = []
    fractions: list[tuple[float, int, list[Cell]]] = []
    for f, keep in subsets.items():
        tag = f"frac-{f:g}"
        sub = out / "data" / tag
        data_task = FractionTask(dataset, sub, tuple(int(i) for i in keep), f)
        jobs.append(Job(f"{tag}/data", "data", sub, data_task))
        synthetic, after = None, (f"{tag}/data",)
        if uses_synthetic_any(cfg):
            gan_run, synthetic = out / tag / "gan", out / tag / "synthetic"
            gan = gan_job(sub, gan_run, cfg, f"{tag}/gan")
            jobs.append(Job(gan.key, gan.stage, gan.out, gan.task, after))
            counts = {c: sum(1 for i in keep if train[i].label == c) for c in ds.classes}
            sample_cfg = SampleConfig(
                per_class=balance_per_class(counts, cfg), seed=cfg.sample.seed
            )
            task = SampleTask(gan_run, synthetic, sample_cfg)
            jobs.append(Job(f"{tag}/sample", "sample", synthetic, task, (f"{tag}/gan",)))
            after = (f"{tag}/sample",)
        cells = build_cells(cfg, sub, out / tag / "runs", synthetic)
        jobs += cell_jobs(cells, after, f"{tag}/")
        fractions.append((f, int(keep.size), cells))

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        metrics = {}
        for f, _, cells in fractions:
            metrics |= {f"frac-{f:g}/{k}": m for k, m in read_metrics(cells).items()}
        return finish_scarcity(cfg, out, fractions, metrics, seconds)

    return Plan("scarcity", jobs, finish)


def uses_synthetic_any(cfg: ScarcityConfig) -> bool:
    """Whether any strategy needs the fraction's synthetic images (then a GAN per fraction)."""
    parts = {p for x in cfg.strategies for p in expand_strategy(x).split("+")}
    return bool(parts & set(USES_SYNTHETIC))


def finish_scarcity(
    cfg: ScarcityConfig,
    out: Path,
    fractions: list[tuple[float, int, list[Cell]]],
    metrics: dict[str, dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    """Aggregate finished cells (``metrics`` keyed ``frac-F/STRATEGY/seed-S``) of both launchers."""
    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    curve, runs = [], {}
    for f, n_train, cells in fractions:
        tag = f"frac-{f:g}"
        by_strategy: dict[str, dict[int, Any]] = {}
        for c in cells:
            m = metrics[f"{tag}/{c.key}"]
            by_strategy.setdefault(c.key.split("/")[0], {})[c.config.seed] = m
            runs[f"{tag}/{c.key}"] = {"dir": relative_path(c.out, out), "metrics": m}
        for strategy, keys in summarize(by_strategy, classes).items():
            curve.append({"fraction": f, "n_train": n_train, "strategy": strategy, **keys})
    results = {
        "experiment": "scarcity",
        "classes": classes,
        "dataset": dataset_summary(dataset, ds),
        "fractions": cfg.fractions,
        "strategies": cfg.strategies,
        "seeds": cfg.seeds,
        "curve": curve,
        "runs": runs,
        "seconds": round(seconds, 1),
    }
    _write(out, results, classes)
    from lesiongan.experiments.report import build_report

    build_report(out)
    write_status(out, DONE)
    return results


def _write(out: Path, results: dict[str, Any], classes: list[str]) -> None:
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["fraction", "n_train", "strategy", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    )
    for p in results["curve"]:
        for k in summary_keys(classes):
            s = p[k]
            w.writerow(
                [
                    p["fraction"],
                    p["n_train"],
                    p["strategy"],
                    k,
                    s["mean"],
                    s["ci_low"],
                    s["ci_high"],
                    s["n"],
                ]
            )
    write_text_atomic(out / "results.csv", buf.getvalue())


def run_scarcity(
    cfg: ScarcityConfig,
    out: Path,
    force: bool = False,
    stage: Any = None,
    on_cell: Any = None,
) -> dict[str, Any]:
    """Run the experiment here (the local launcher): ``kinds.run_experiment("scarcity", ...)``."""
    from lesiongan.experiments.kinds import run_experiment
    from lesiongan.experiments.stages import no_progress

    return run_experiment("scarcity", cfg, out, force, stage or no_progress, on_cell)
