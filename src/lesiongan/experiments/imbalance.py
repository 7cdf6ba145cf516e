"""``lesiongan experiment imbalance``: the poster's experiment, as a plan of jobs.

For a prepared dataset: the class-conditional GAN trained on the train split (or a finished run
reused), synthetic minority images sampled from it (one set, or several ``variants``: selected
by the discriminator, a real-only classifier, or realism), a classifier per strategy x seed,
then aggregation: intervals over seeds, paired differences against ``none`` and against the
reference real-only strategy, ``results.json``, ``results.csv`` and ``report.html``.

The graph (:func:`plan_imbalance`) is the one both launchers run::

    gan ─▶ sample[/VARIANT] ─▶ audit/VARIANT ─▶ STRATEGY@VARIANT/seed-S (+ synthetic-only: CAS)
    STRATEGY/seed-S (real-only) ──────────────┘  (a selecting or auditing classifier comes first)
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lesiongan.config import load_config
from lesiongan.data.manifest import PreparedDataset, load_dataset
from lesiongan.data.synthetic import read_info
from lesiongan.errors import ConfigError, LesionganError
from lesiongan.experiments.aggregate import (
    classification_accuracy_score,
    compare_strategies,
    read_test_predictions,
    summarize,
)
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import (
    ExperimentBase,
    ImbalanceConfig,
    VariantConfig,
    uses_synthetic,
)
from lesiongan.experiments.jobs import (
    AuditTask,
    GanTask,
    Job,
    Plan,
    SampleTask,
    cell_jobs,
    read_metrics,
)
from lesiongan.experiments.stages import balance_counts
from lesiongan.gan.config import GanConfig
from lesiongan.gan.sample import SampleConfig
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.stage import DONE, read_status

BASELINE = "none"


def require_finished_gan(run: Path) -> None:
    """A reused GAN run (``gan.run``) must have finished its schedule before it is sampled."""
    if not Path(run).is_dir():
        raise LesionganError(f"{run}: no such GAN run directory (a reused run must exist)")
    state = read_status(run).get("state")
    if state != DONE:
        raise LesionganError(
            f"{run}: the GAN run is not finished (status {state or 'missing'}); finish it with "
            "'lesiongan gan train ... --resume', then run the experiment again (finished "
            "classifier runs are kept)"
        )


def sample_counts(dataset: Path, cfg: ExperimentBase, every_class: bool = False) -> dict[str, int]:
    """Images to sample per class: ``balance`` fills every class up to the largest.

    ``every_class`` (CAS trains on synthetic images alone, so it needs every class): a class
    that needs none for balance gets as many as the class that needs the most.
    """
    counts = load_dataset(dataset).info["counts"]["train"]
    per_class = balance_per_class(counts, cfg, str(dataset))
    if every_class:
        most = max(per_class.values())
        per_class = {c: per_class.get(c, most) for c in counts}
    return per_class


def balance_per_class(counts: dict[str, int], cfg: ExperimentBase, where: str = "") -> dict:
    """``sample.per_class``, where ``balance`` fills every class up to the largest."""
    per_class = (
        balance_counts(counts) if cfg.sample.per_class == "balance" else cfg.sample.per_class
    )
    if not per_class:
        raise ConfigError(f"{where}: the train split is already balanced; set sample.per_class")
    return per_class


def gan_job(dataset: Path, run: Path, cfg: ExperimentBase, key: str = "gan") -> Job:
    """Training the experiment's GAN (its recipe and ``set``) into ``run``."""
    gan_cfg = load_config(GanConfig, resolve_recipe(cfg.gan.config), cfg.gan.set)
    return Job(key, "gan", run, GanTask(dataset, run, gan_cfg))


def build_cells(
    cfg: ExperimentBase,
    dataset: Path,
    runs: Path,
    synthetic: Path | None,
    strategies: list[str] | None = None,
    variant: str = "",
) -> list[Cell]:
    """One cell per strategy x seed; with ``variant``, run names are ``STRATEGY@VARIANT``."""
    cells = []
    for strategy in strategies if strategies is not None else cfg.strategies:
        name = f"{strategy}@{variant}" if variant else strategy
        for seed in cfg.seeds:
            cells.append(
                Cell(
                    f"{name}/seed-{seed}",
                    dataset,
                    runs / name / f"seed-{seed}",
                    cfg.classify_config(strategy, seed),
                    synthetic,
                )
            )
    return cells


def variant_sample(
    cfg: ImbalanceConfig, v: VariantConfig, out: Path, per_class: dict[str, int]
) -> tuple[Path, SampleConfig]:
    """A variant's synthetic directory and sample config (selection by the first seed's run of
    the variant's real-only classifier strategy)."""
    clf = out / "runs" / v.classifier / f"seed-{cfg.seeds[0]}" if v.classifier else None
    sample_cfg = SampleConfig(
        per_class=per_class,
        seed=cfg.sample.seed,
        select=v.select,
        keep=v.keep,
        classifier=str(clf) if clf else None,
    )
    return out / "synthetic" / v.name, sample_cfg


def audit_config(baseline: Path) -> Any:
    """A variant's realism audit: in the features of the real-only baseline (first seed)."""
    from lesiongan.evaluate.run import RealismConfig

    return RealismConfig(features="domain", classifier=str(baseline))


def plan_imbalance(cfg: ImbalanceConfig, out: Path) -> Plan:
    """Every job of the experiment, in dependency order (see the module's graph)."""
    out, dataset = Path(out), Path(cfg.dataset)
    runs = out / "runs"
    jobs: list[Job] = []
    if cfg.sample.synthetic:  # a sample reused: no GAN, no sampling
        gan_run: Path | None = Path(cfg.gan.run) if cfg.gan.run else None
    elif cfg.gan.run:
        gan_run = Path(cfg.gan.run)
    else:
        gan_run = out / "gan"
        jobs.append(gan_job(dataset, gan_run, cfg))
    gan_keys = tuple(j.key for j in jobs)
    if not cfg.variants:
        return _plan_single(cfg, out, dataset, jobs, gan_run)
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    with_syn = [s for s in cfg.strategies if uses_synthetic(s)]
    cells = build_cells(cfg, dataset, runs, None, real_only)
    jobs += cell_jobs(cells)
    per_class = sample_counts(dataset, cfg, every_class=cfg.cas)
    first = f"seed-{cfg.seeds[0]}"
    assert gan_run is not None
    for v in cfg.variants:
        syn, sample_cfg = variant_sample(cfg, v, out, per_class)
        deps = gan_keys + ((f"{v.classifier}/{first}",) if v.classifier else ())
        jobs.append(
            Job(f"sample/{v.name}", "sample", syn, SampleTask(gan_run, syn, sample_cfg), deps)
        )
        after = (f"sample/{v.name}",)
        if cfg.audit:
            audit = out / "audit" / v.name / "realism"
            task = AuditTask("realism", dataset, syn, audit, audit_config(runs / BASELINE / first))
            jobs.append(
                Job(f"audit/{v.name}", "audit", audit, task, (*after, f"{BASELINE}/{first}"))
            )
        strategies = with_syn + (["synthetic-only"] if cfg.cas else [])
        v_cells = build_cells(cfg, dataset, runs, syn, strategies, v.name)
        jobs += cell_jobs(v_cells, after)
        cells += v_cells

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        if gan_keys:
            require_finished_gan(gan_run)
        gan_info = (
            {"reused_gan": str(cfg.gan.run)} if cfg.gan.run else {"gan_reused": "gan" not in ran}
        )
        variants = {
            v.name: {
                "dir": relative_path(out / "synthetic" / v.name, out),
                "sample_reused": f"sample/{v.name}" not in ran,
            }
            for v in cfg.variants
        }
        part = {
            "synthetic": {"dir": "synthetic", "per_class": per_class, **gan_info},
            "gan_run": relative_path(gan_run, out),
            "variant_dirs": variants,
        }
        return finish_imbalance(cfg, out, cells, read_metrics(cells), part, seconds)

    return Plan("imbalance", jobs, finish)


def _plan_single(
    cfg: ImbalanceConfig, out: Path, dataset: Path, jobs: list[Job], gan_run: Path | None
) -> Plan:
    """One synthetic set (reused, or sampled to balance the classes) for every strategy."""
    after: tuple[str, ...] = ()
    if cfg.sample.synthetic:
        synthetic = Path(cfg.sample.synthetic)
        counts = read_info(synthetic).get("counts") if synthetic.is_dir() else None
        syn_info: dict[str, Any] = {"reused": True, "per_class": counts}
    else:
        assert gan_run is not None
        per_class = sample_counts(dataset, cfg)
        synthetic = out / "synthetic"
        sample_cfg = SampleConfig(per_class=per_class, seed=cfg.sample.seed)
        task = SampleTask(gan_run, synthetic, sample_cfg)
        jobs.append(Job("sample", "sample", synthetic, task, tuple(j.key for j in jobs)))
        after = ("sample",)
        syn_info = {"per_class": per_class}
    cells = build_cells(cfg, dataset, out / "runs", synthetic)
    jobs += cell_jobs(cells, after)

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        info = dict(syn_info)
        if not cfg.sample.synthetic:
            gan = (
                {"reused_gan": str(cfg.gan.run)}
                if cfg.gan.run
                else {"gan_reused": "gan" not in ran}
            )
            info = {**gan, "sample_reused": "sample" not in ran, **syn_info}
        part = {
            "synthetic": {"dir": relative_path(synthetic, out), **info},
            "gan_run": relative_path(gan_run, out) if gan_run else None,
        }
        return finish_imbalance(cfg, out, cells, read_metrics(cells), part, seconds)

    return Plan("imbalance", jobs, finish)


def aggregate(
    cfg: ExperimentBase,
    cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    classes: list[str],
    real_only: list[str] | None = None,
) -> dict[str, Any]:
    """Summaries over seeds, paired differences against ``none`` and against the reference."""
    by_strategy: dict[str, dict[int, dict[str, Any]]] = {}
    preds: dict[str, dict[int, Any]] = {}
    for cell in cells:
        strategy, seed = cell.key.split("/")[0], cell.config.seed
        by_strategy.setdefault(strategy, {})[seed] = metrics[cell.key]
        preds.setdefault(strategy, {})[seed] = read_test_predictions(cell.out, classes)
    summary = summarize(by_strategy, classes)
    out: dict[str, Any] = {"summary": summary, "paired": {}}
    if BASELINE in preds:
        out["paired"] = compare_strategies(preds, BASELINE, classes, cfg.bootstrap)
    real_only = [s for s in (real_only or []) if s in preds]
    if real_only:
        ref = getattr(cfg, "reference", "best")
        if ref == "best":
            ref = max(real_only, key=lambda s: summary[s]["balanced_accuracy"]["mean"] or 0.0)
        out["reference"] = ref
        out["paired_vs_reference"] = (
            out["paired"]
            if ref == BASELINE
            else compare_strategies(preds, ref, classes, cfg.bootstrap)
        )
    return out


def dataset_summary(path: Path, ds: PreparedDataset) -> dict[str, Any]:
    """What the report shows about the dataset: where, counts per split, image size."""
    return {
        "path": str(path.resolve()),
        "counts": ds.info["counts"],
        "image_size": ds.info.get("image_size"),
    }


def finish_imbalance(
    cfg: ImbalanceConfig,
    out: Path,
    cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    syn_part: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """Aggregate finished cells: ``results.json``, ``results.csv``, ``report.html``, done."""
    from lesiongan.utils.stage import write_status

    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    results = {
        "experiment": "imbalance",
        "classes": classes,
        "dataset": dataset_summary(dataset, ds),
        "strategies": list(dict.fromkeys(c.key.split("/")[0] for c in cells)),
        "real_only_strategies": real_only,
        "seeds": cfg.seeds,
        "baseline": BASELINE,
        **syn_part,
        "runs": {
            c.key: {
                "dir": relative_path(c.out, out),
                "strategy": c.config.strategy,
                "seed": c.config.seed,
                "metrics": metrics[c.key],
            }
            for c in cells
        },
        **aggregate(cfg, cells, metrics, classes, real_only),
        "seconds": round(seconds, 1),
    }
    if cfg.variants:
        results["variants"] = _variant_results(cfg, out, results)
    write_results(out, results)
    from lesiongan.experiments.report import build_report

    build_report(out)
    write_status(out, DONE)
    return results


REALISM_KEYS = (
    "fid",
    "fid_floor",
    "kid_mean",
    "kid_mean_floor",
    "precision",
    "precision_floor",
    "recall",
    "recall_floor",
    "density",
    "coverage",
    "coverage_floor",
    "ms_ssim",
    "ms_ssim_floor",
)


def _variant_results(cfg: ImbalanceConfig, out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Per variant: how it was selected, its realism (when audited) and its CAS."""
    summary = results["summary"]
    variants = {}
    for v in cfg.variants:
        syn = out / "synthetic" / v.name
        info = read_info(syn)
        entry: dict[str, Any] = {
            "dir": relative_path(syn, out),
            "select": v.select,
            "keep": v.keep,
            "classifier": v.classifier,
            "selection": info.get("selection"),
            "counts": info.get("counts"),
        }
        metrics_path = out / "audit" / v.name / "realism" / "metrics.json"
        if metrics_path.is_file():
            m = json.loads(metrics_path.read_text())
            entry["realism"] = {k: m.get(k) for k in ("features", *REALISM_KEYS)}
        key = f"synthetic-only@{v.name}"
        if cfg.cas and key in summary and BASELINE in summary:
            entry["cas"] = classification_accuracy_score(
                _by_seed(results, key, "balanced_accuracy"),
                _by_seed(results, BASELINE, "balanced_accuracy"),
            )
        variants[v.name] = entry
    return variants


def _by_seed(results: dict[str, Any], strategy: str, key: str) -> dict[int, float]:
    return {
        r["seed"]: r["metrics"].get(key)
        for k, r in results["runs"].items()
        if k.split("/")[0] == strategy
    }


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (results stay valid if ``root`` moves)."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(Path(path).resolve())


_CSV_COLUMNS = [
    "strategy",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "n_seeds",
    "diff_vs_none",
    "diff_ci_low",
    "diff_ci_high",
    "p_not_better",
    "diff_t_ci_low",
    "diff_t_ci_high",
    "reference",
    "diff_vs_reference",
    "ref_ci_low",
    "ref_ci_high",
    "ref_p_not_better",
]


def write_results(out: Path, results: dict[str, Any]) -> None:
    """``results.json`` (everything) and ``results.csv`` (one row per strategy and metric)."""
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_CSV_COLUMNS)
    ref = results.get("reference") or ""
    for strategy, keys in results["summary"].items():
        for key, s in keys.items():
            d = results["paired"].get(strategy, {}).get(key, {})
            r = (results.get("paired_vs_reference") or {}).get(strategy, {}).get(key, {})
            w.writerow(
                [strategy, key, _fmt(s["mean"]), _fmt(s["ci_low"]), _fmt(s["ci_high"]), s["n"]]
                + [_fmt(d.get(k)) for k in ("diff", "ci_low", "ci_high", "p_not_better")]
                + [_fmt(d.get("t_ci_low")), _fmt(d.get("t_ci_high")), ref]
                + [_fmt(r.get(k)) for k in ("diff", "ci_low", "ci_high", "p_not_better")]
            )
    write_text_atomic(out / "results.csv", buf.getvalue())


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def run_imbalance(
    cfg: ImbalanceConfig,
    out: Path,
    force: bool = False,
    stage: Any = None,
    on_cell: Any = None,
) -> dict[str, Any]:
    """Run the experiment here (the local launcher): ``kinds.run_experiment("imbalance", ...)``."""
    from lesiongan.experiments.kinds import run_experiment
    from lesiongan.experiments.stages import no_progress

    return run_experiment("imbalance", cfg, out, force, stage or no_progress, on_cell)
