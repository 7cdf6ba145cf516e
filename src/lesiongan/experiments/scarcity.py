"""``lesiongan experiment scarcity``: how the classifier scales with the number of real labels.

For each fraction of the training split (stratified, seeded and nested: the 10 % subset lies
inside the 25 % one, and so on) a sub-dataset is written (``data/frac-<f>/``: a manifest with
only that fraction's training rows plus the full test split; images are shared through a link,
not copied). Everything downstream sees only the sub-dataset, so the GAN of a fraction is
trained on that fraction's labelled images alone: no peeking at labels the fraction does not
have. Then classifiers with and without synthetic images (``strategies``) run over the seeds.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.classify.samplers import USES_SYNTHETIC
from lesiongan.config import Config
from lesiongan.data.manifest import (
    build_dataset_info,
    dataset_fingerprint,
    load_dataset,
    save_dataset,
    split_fingerprint,
)
from lesiongan.errors import LesionganError
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import ScarcityConfig, expand_strategy, uses_synthetic
from lesiongan.experiments.gans import gan_job, generator_record
from lesiongan.experiments.imbalance import balance_per_class, build_cells
from lesiongan.experiments.jobs import (
    Job,
    Plan,
    SampleTask,
    cell_jobs,
    features_job,
    read_metrics,
)
from lesiongan.experiments.results import (
    dataset_summary,
    relative_path,
)
from lesiongan.experiments.scarcity_results import aggregate_scarcity, write_scarcity_results
from lesiongan.gan.sample import SampleConfig
from lesiongan.utils.provenance import git_revision
from lesiongan.utils.stage import DONE, begin_stage, open_stage, write_status


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
        self.write(False)

    def write(self, force: bool) -> None:
        stage = begin_stage(
            self.out, self.config(), [self.parent], name="scarcity fraction", force=force
        )
        if stage.is_done:
            return
        ds = load_dataset(self.parent)
        train = ds.split_rows("train")
        rows = [train[i] for i in self.keep] + ds.split_rows("test")
        with stage.write() as tmp:
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
            stage.provenance = {"parent": str(self.parent.resolve())}


@dataclass(frozen=True)
class OracleTask:
    """A fraction's oracle: the parent's train images the fraction left out, in the synthetic
    format (:mod:`lesiongan.data.oracle`)."""

    parent: Path
    out: Path
    left_out: tuple[int, ...]  # indices into the parent's train rows

    def config(self) -> FractionConfig:
        train = load_dataset(self.parent, check_files=False).split_rows("train")
        ids = "\n".join(train[i].image_id for i in self.left_out).encode()
        return FractionConfig(
            parent_fingerprint=dataset_fingerprint(self.parent),
            fraction=0.0,
            train_ids_sha256=hashlib.sha256(ids).hexdigest(),
        )

    def state(self) -> str:
        return open_stage(self.out, self.config(), [self.parent]).state

    def __call__(self, progress=None, workers=None) -> None:
        from lesiongan.data.oracle import write_oracle_directory

        stage = begin_stage(self.out, self.config(), [self.parent], name="scarcity oracle")
        if stage.is_done:
            return
        train = load_dataset(self.parent).split_rows("train")
        with stage.write() as tmp:
            write_oracle_directory(self.parent, [train[i] for i in self.left_out], tmp)
            stage.provenance = {"parent": str(self.parent.resolve())}


def fraction_gans(
    cfg: ScarcityConfig, f: float, sub: Path, out: Path, train_fingerprint: str, after: tuple
) -> tuple[list[tuple[str, Path]], list[Job]]:
    """A fraction's generators: reused (``gan_runs``, checked against the fraction's train
    split), one per ``gan.seeds``, or one trained here."""
    from lesiongan.gan.run import read_run_info

    tag = f"frac-{f:g}"
    if f in cfg.gan_runs:
        runs = [Path(r) for r in cfg.gan_runs[f]]
        for run in runs:
            if read_run_info(run).get("train_split_fingerprint") != train_fingerprint:
                raise LesionganError(
                    f"{run}: not trained on the {f:g} fraction's train split (run.json "
                    "fingerprint); each fraction's GAN must see only that fraction's labels"
                )
        ids = [f"g{i}" for i in range(len(runs))] if len(runs) > 1 else [""]
        return list(zip(ids, runs)), []
    if not cfg.gan.seeds:
        gan = gan_job(sub, out / tag / "gan", cfg, f"{tag}/gan")
        return [("", gan.out)], [Job(gan.key, gan.stage, gan.out, gan.task, after)]
    gans, jobs = [], []
    for i, seed in enumerate(cfg.gan.seeds):
        g = f"g{i}"
        job = gan_job(sub, out / tag / "gan" / g, cfg, f"{tag}/gan/{g}", seed)
        jobs.append(Job(job.key, job.stage, job.out, job.task, after))
        gans.append((g, job.out))
    return gans, jobs


def plan_scarcity(cfg: ScarcityConfig, out: Path) -> Plan:
    """Per fraction: its dataset (links to the parent's images), its GAN(s) and samples when a
    strategy uses synthetic images, its oracle, and its cells."""
    out, dataset = Path(out), Path(cfg.dataset)
    ds = load_dataset(dataset)
    train = ds.split_rows("train")
    subsets = nested_fractions([r.label for r in train], cfg.fractions, cfg.seeds[0])
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    with_syn = [s for s in cfg.strategies if uses_synthetic(s)]
    jobs: list[Job] = []
    fractions: list[tuple[float, int, list[Cell]]] = []
    generators: list[tuple[str, Path]] = []  # (fraction/generator id, run), for the results
    for f, keep in subsets.items():
        tag = f"frac-{f:g}"
        sub, runs = out / "data" / tag, out / tag / "runs"
        data_task = FractionTask(dataset, sub, tuple(int(i) for i in keep), f)
        jobs.append(Job(f"{tag}/data", "data", sub, data_task))
        after = (f"{tag}/data",)
        clf = cfg.classify_config(real_only[0] if real_only else "none", cfg.seeds[0])
        fjob = features_job(f"{tag}/features", sub, None, out / "features" / tag, clf, after)
        if fjob:
            jobs.append(fjob)
            after = (*after, fjob.key)
        cells = build_cells(cfg, sub, runs, None, real_only)
        if with_syn:
            kept = [train[i] for i in keep]
            gans, gan_jobs = fraction_gans(
                cfg, f, sub, out, split_fingerprint(kept, "train"), after
            )
            jobs += gan_jobs
            generators += [(f"{tag}/{g or 'gan'}", run) for g, run in gans]
            counts = {c: sum(1 for r in kept if r.label == c) for c in ds.classes}
            sample_cfg = SampleConfig(
                per_class=balance_per_class(counts, cfg.sample.per_class), seed=cfg.sample.seed
            )
            trained = {j.out: j.key for j in gan_jobs}
            for g, run in gans:
                syn = out / tag / "synthetic" / g if g else out / tag / "synthetic"
                key = f"{tag}/sample/{g}" if g else f"{tag}/sample"
                deps = after + ((trained[run],) if run in trained else ())
                jobs.append(Job(key, "sample", syn, SampleTask(run, syn, sample_cfg), deps))
                g_after = (*after, key)
                fdir = out / "features" / tag / (f"gan-{g}" if g else "gan")
                fjob = features_job(f"{tag}/features/gan{g}", sub, syn, fdir, clf, g_after)
                if fjob:
                    jobs.append(fjob)
                    g_after = (*g_after, fjob.key)
                g_cells = build_cells(cfg, sub, runs, syn, with_syn, "gan", g)
                jobs += cell_jobs(g_cells, g_after, f"{tag}/")
                cells += g_cells
            kept_idx = set(keep.tolist())
            left_out = tuple(i for i in range(len(train)) if i not in kept_idx)
            if cfg.oracle and left_out:
                odir = out / tag / "oracle"
                jobs.append(Job(f"{tag}/oracle", "data", odir, OracleTask(dataset, odir, left_out)))
                o_after = (*after, f"{tag}/oracle")
                fdir = out / "features" / tag / "oracle"
                fjob = features_job(f"{tag}/features/oracle", sub, odir, fdir, clf, o_after)
                if fjob:
                    jobs.append(fjob)
                    o_after = (*o_after, fjob.key)
                o_cells = build_cells(cfg, sub, runs, odir, with_syn, "oracle")
                jobs += cell_jobs(o_cells, o_after, f"{tag}/")
                cells += o_cells
        jobs += cell_jobs(cells[: len(real_only) * len(cfg.seeds)], after, f"{tag}/")
        fractions.append((f, int(keep.size), cells))

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        metrics = {}
        for f, _, cells in fractions:
            metrics |= {f"frac-{f:g}/{k}": m for k, m in read_metrics(cells).items()}
        return finish_scarcity(cfg, out, fractions, metrics, seconds, generators)

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
    generators: list[tuple[str, Path]] | None = None,
) -> dict[str, Any]:
    """Aggregate finished cells (``metrics`` keyed ``frac-F/STRATEGY/...``) of both launchers:
    per fraction the summaries, the reference chosen on validation, and the differences of the
    synthetic and oracle cells from it; calls Holm-corrected over every fraction's synthetic
    cells together."""
    from lesiongan.experiments.imbalance import records_of

    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    runs, by_fraction = {}, {}
    for f, n_train, cells in fractions:
        tag = f"frac-{f:g}"
        mine = {c.key: metrics[f"{tag}/{c.key}"] for c in cells}
        for c in cells:
            runs[f"{tag}/{c.key}"] = {
                "dir": relative_path(c.out, out),
                "strategy": c.config.strategy,
                "seed": c.config.seed,
                **({"generator": c.generator} if c.generator else {}),
                "metrics": mine[c.key],
            }
        by_fraction[f] = (n_train, records_of(cells, mine))
    agg = aggregate_scarcity(cfg, by_fraction, classes)
    results = {
        "experiment": "scarcity",
        "classes": classes,
        "dataset": {**dataset_summary(dataset, ds), "fingerprint": dataset_fingerprint(dataset)},
        "fractions": cfg.fractions,
        "strategies": cfg.strategies,
        "seeds": cfg.seeds,
        **agg,
        # each fraction's GANs: run, seed, training length, the sampled checkpoint's sha256
        "generators": {k: generator_record(run, out) for k, run in generators or []},
        "runs": runs,
        "code_revision": git_revision(),
        "seconds": round(seconds, 1),
    }
    write_scarcity_results(out, results, classes)
    from lesiongan.experiments.report import build_report

    build_report(out)
    write_status(out, DONE)
    return results


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
