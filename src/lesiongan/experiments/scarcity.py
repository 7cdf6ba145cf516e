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
import time
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
from lesiongan.experiments.cells import Cell, run_cells
from lesiongan.experiments.config import ScarcityConfig, expand_strategy
from lesiongan.experiments.imbalance import (
    CellFn,
    build_cells,
    dataset_summary,
    open_experiment,
    prepare_synthetic,
    relative_path,
)
from lesiongan.experiments.stages import StageFn, no_progress
from lesiongan.utils.outdir import atomic_output_dir, write_text_atomic
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
    ds = load_dataset(parent)
    train = ds.split_rows("train")
    rows = [train[i] for i in keep_train] + ds.split_rows("test")
    ids = "\n".join(train[i].image_id for i in keep_train).encode()
    cfg = FractionConfig(
        parent_fingerprint=dataset_fingerprint(parent),
        fraction=fraction,
        train_ids_sha256=hashlib.sha256(ids).hexdigest(),
    )
    if open_stage(out, cfg, [parent], force=force).is_done:
        return out
    with atomic_output_dir(out, [parent], force=True) as tmp:
        for top in {Path(r.path).parts[0] for r in rows}:
            os.symlink((parent / top).resolve(), tmp / top, target_is_directory=True)
        info = build_dataset_info(
            rows,
            ds.classes,
            int(ds.info.get("image_size") or 0),
            int(ds.info.get("seed") or 0),
            parent=str(parent.resolve()),
            fraction=fraction,
        )
        save_dataset(tmp, rows, info)
        save_config(cfg, tmp / "config.yaml")
    return out


def run_scarcity(
    cfg: ScarcityConfig,
    out: Path,
    force: bool = False,
    stage: StageFn = no_progress,
    on_cell: CellFn | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    out, dataset = Path(out), Path(cfg.dataset)
    ds = load_dataset(dataset)
    open_experiment(out, cfg, [dataset], "scarcity", force)
    train = ds.split_rows("train")
    subsets = nested_fractions([r.label for r in train], cfg.fractions, cfg.seeds[0])
    fractions = []
    metrics: dict[str, dict[str, Any]] = {}
    for f, keep in subsets.items():
        tag = f"frac-{f:g}"
        sub = write_fraction_dataset(dataset, out / "data" / tag, keep, f, force)
        synthetic = None
        if uses_synthetic_any(cfg):
            synthetic, _, _ = prepare_synthetic(sub, out / tag, cfg, force, stage)
        cells = build_cells(cfg, sub, out / tag / "runs", synthetic)
        metrics.update(
            {f"{tag}/{k}": m for k, m in run_cells(cells, cfg.workers, force, on_cell).items()}
        )
        fractions.append((f, int(keep.size), cells))
    return finish_scarcity(cfg, out, fractions, metrics, time.perf_counter() - start)


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
