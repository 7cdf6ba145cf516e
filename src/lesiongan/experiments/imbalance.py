"""``lesiongan experiment imbalance``: the poster's experiment, as a plan of jobs.

For a prepared dataset: the class-conditional GAN trained on the train split (or a finished run
reused), synthetic minority images sampled from it (one set, or several ``variants``: selected
by the discriminator, a real-only classifier, or realism), a classifier per strategy x seed,
then aggregation: intervals over seeds, paired differences against ``none`` and against the
reference real-only strategy, ``results.json``, ``results.csv`` and ``report.html``.

The graph (:func:`plan_imbalance`) is the one both launchers run::

    gan ─▶ sample/VARIANT ─▶ features/VARIANT ─▶ STRATEGY@VARIANT/seed-S (+ synthetic-only: CAS)
                          └─▶ audit/VARIANT (realism; in a worker, beside the cells)
    features/dataset ─▶ STRATEGY/seed-S (real-only); a selecting classifier before its sample
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesiongan.data.manifest import dataset_fingerprint, load_dataset
from lesiongan.data.synthetic import read_info
from lesiongan.errors import ConfigError
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import (
    ExperimentBase,
    ImbalanceConfig,
    VariantConfig,
    uses_synthetic,
)
from lesiongan.experiments.finetune import finetune_cells, finetune_names
from lesiongan.experiments.gans import (
    experiment_gans,
    gan_info,
    generator_record,
    require_finished_gan,
)
from lesiongan.experiments.jobs import (
    AuditTask,
    Job,
    Plan,
    SampleTask,
    cell_jobs,
    features_job,
    read_metrics,
)
from lesiongan.experiments.records import RunRecord
from lesiongan.experiments.results import (
    aggregate_records,
    dataset_summary,
    relative_path,
    variant_results,
    write_results,
)
from lesiongan.experiments.stages import balance_counts
from lesiongan.gan.sample import SampleConfig
from lesiongan.utils.provenance import git_revision
from lesiongan.utils.stage import DONE, write_status

BASELINE = "none"  # the imbalanced real-only baseline every strategy is also compared with


def sample_counts(
    dataset: Path,
    cfg: ExperimentBase,
    every_class: bool = False,
    per_class: str | dict[str, int] | None = None,
) -> dict[str, int]:
    """Images to sample per class (``per_class``, else ``sample.per_class``): ``balance``
    fills every class up to the largest.

    ``every_class`` (CAS trains on synthetic images alone, so it needs every class): a class
    that needs none for balance gets as many as the class that needs the most.
    """
    counts = load_dataset(dataset).info["counts"]["train"]
    per_class = balance_per_class(counts, per_class or cfg.sample.per_class, str(dataset))
    if every_class:
        most = max(per_class.values())
        per_class = {c: per_class.get(c, most) for c in counts}
    return per_class


def balance_per_class(
    counts: dict[str, int], wanted: str | dict[str, int], where: str = ""
) -> dict[str, int]:
    """``wanted`` images per class, where ``balance`` fills every class up to the largest."""
    per_class = balance_counts(counts) if wanted == "balance" else dict(wanted)  # type: ignore[arg-type]
    if not per_class:
        raise ConfigError(f"{where}: the train split is already balanced; set sample.per_class")
    return per_class


def build_cells(
    cfg: ExperimentBase,
    dataset: Path,
    runs: Path,
    synthetic: Path | None,
    strategies: list[str] | None = None,
    variant: str = "",
    generator: str = "",
) -> list[Cell]:
    """One cell per strategy x seed; with ``variant``, run names are ``STRATEGY@VARIANT``, and
    with ``generator`` the runs of that generator's images sit under ``STRATEGY@VARIANT/GEN``."""
    cells = []
    for strategy in strategies if strategies is not None else cfg.strategies:
        name = f"{strategy}@{variant}" if variant else strategy
        where = f"{name}/{generator}" if generator else name
        for seed in cfg.seeds:
            cells.append(
                Cell(
                    f"{where}/seed-{seed}",
                    dataset,
                    runs / where / f"seed-{seed}",
                    cfg.classify_config(strategy, seed),
                    synthetic,
                    generator,
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


def audit_config(cfg: ImbalanceConfig) -> Any:
    """A variant's realism audit: in the frozen ImageNet features (the default extractor) at
    ``cfg.audit_size`` px, with the options of ``cfg.audit_set``."""
    from lesiongan.evaluate.run import RealismConfig

    return RealismConfig(**{**cfg.audit_set, "imagenet_size": cfg.audit_size})


def plan_imbalance(cfg: ImbalanceConfig, out: Path) -> Plan:
    """Every job of the experiment, in dependency order (see the module's graph)."""
    out, dataset = Path(out), Path(cfg.dataset)
    if cfg.sample.synthetic or not cfg.variants:
        return _plan_single(cfg, out, dataset)
    runs = out / "runs"
    gans, jobs = experiment_gans(cfg, dataset, out)
    real_only = [s for s in cfg.strategies if not uses_synthetic(s)]
    with_syn = [s for s in cfg.strategies if uses_synthetic(s)]
    cells = build_cells(cfg, dataset, runs, None, real_only)
    clf = cfg.classify_config(real_only[0] if real_only else "none", cfg.seeds[0])
    feats = features_job("features/dataset", dataset, None, out / "features" / "dataset", clf)
    base = (feats.key,) if feats else ()
    jobs += [feats] if feats else []
    jobs += cell_jobs(cells, base)
    per_class = sample_counts(dataset, cfg, every_class=cfg.cas)
    first = f"seed-{cfg.seeds[0]}"
    trained = {j.out: j.key for j in jobs if j.stage == "gan"}
    sets: dict[tuple[str, str], Path] = {}
    classes = list(load_dataset(dataset).classes)
    for v in cfg.variants:
        for g, gan_run in gans:
            sub = f"/{g}" if g else ""
            counts = sample_counts(dataset, cfg, cfg.cas, v.per_class) if v.per_class else per_class
            syn, sample_cfg = variant_sample(cfg, v, out, counts)
            syn = syn / g if g else syn
            deps = ((trained[gan_run],) if gan_run in trained else ()) + (
                (f"{v.classifier}/{first}",) if v.classifier else ()
            )
            task = SampleTask(gan_run, syn, sample_cfg)
            jobs.append(Job(f"sample/{v.name}{sub}", "sample", syn, task, deps + base))
            after = (f"sample/{v.name}{sub}",)
            fkey = f"features/{v.name}{sub}"
            fjob = features_job(fkey, dataset, syn, out / "features" / v.name / g, clf, after)
            if fjob:
                jobs.append(fjob)
                after = (*after, fkey, *base)
            if cfg.audit:
                audit = (
                    out / "audit" / v.name / g / "realism"
                    if g
                    else out / "audit" / v.name / "realism"
                )
                atask = AuditTask("realism", dataset, syn, audit, audit_config(cfg))
                # in the frozen ImageNet features it needs no classifier of the experiment, so
                # it runs in a worker beside the cells (mostly one-threaded numpy work)
                jobs.append(Job(f"audit/{v.name}{sub}", "audit", audit, atask, after, True))
            mine = [s for s in with_syn if v.strategies is None or s in v.strategies]
            strategies = mine + (["synthetic-only"] if cfg.cas else [])
            v_cells = build_cells(cfg, dataset, runs, syn, strategies, v.name, g)
            jobs += cell_jobs(v_cells, after)
            cells += v_cells
            sets[(v.name, g)] = syn
    deferred: list[str] = []
    chosen: dict[str, str] = {}
    if cfg.finetune:
        done = all((c.out / "metrics.json").is_file() for c in cells)
        records = records_of(cells, read_metrics(cells)) if done else None
        names = finetune_names(cfg, records, classes)
        if names is None:
            deferred.append("finetune cells (chosen on validation once every cell finished)")
        else:
            ft = finetune_cells(cfg, names[0], dataset, runs, sets)
            chosen = names[1]
            jobs += cell_jobs(ft, tuple(j.key for j in jobs if j.stage != "gan"))
            cells += ft

    def finish(ran: set[str], seconds: float) -> dict[str, Any]:
        for _, run in gans:
            require_finished_gan(run)
        variants = {
            v.name: {
                "dir": relative_path(out / "synthetic" / v.name, out),
                "sample_reused": not any(k.startswith(f"sample/{v.name}") for k in ran),
            }
            for v in cfg.variants
        }
        part: dict[str, Any] = {
            "synthetic": {"dir": "synthetic", "per_class": per_class, **gan_info(cfg, ran)},
            "gan_run": relative_path(gans[0][1], out),
            "variant_dirs": variants,
        }
        if gans[0][0]:
            part["generators"] = {g: generator_record(run, out) for g, run in gans}
        if chosen:
            part["finetune_chosen"] = chosen
        return finish_imbalance(cfg, out, cells, read_metrics(cells), part, seconds)

    return Plan("imbalance", jobs, finish, deferred)


def _plan_single(cfg: ImbalanceConfig, out: Path, dataset: Path) -> Plan:
    """One synthetic set (reused, or sampled to balance the classes) for every strategy."""
    after: tuple[str, ...] = ()
    jobs: list[Job] = []
    gan_run: Path | None = Path(cfg.gan.run) if cfg.gan.run else None
    if cfg.sample.synthetic:
        synthetic = Path(cfg.sample.synthetic)
        counts = read_info(synthetic).get("counts") if synthetic.is_dir() else None
        syn_info: dict[str, Any] = {"reused": True, "per_class": counts}
    else:
        gans, jobs = experiment_gans(cfg, dataset, out)
        if len(gans) > 1:
            raise ConfigError("several GANs (gan.runs / gan.seeds) need synthetic variants")
        gan_run = gans[0][1]
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
            info = {**gan_info(cfg, ran), "sample_reused": "sample" not in ran, **syn_info}
        part = {
            "synthetic": {"dir": relative_path(synthetic, out), **info},
            "gan_run": relative_path(gan_run, out) if gan_run else None,
        }
        return finish_imbalance(cfg, out, cells, read_metrics(cells), part, seconds)

    return Plan("imbalance", jobs, finish)


def records_of(cells: list[Cell], metrics: dict[str, dict[str, Any]]) -> list[RunRecord]:
    return [
        RunRecord(
            key=c.key,
            strategy=c.key.split("/")[0],
            generator=c.generator,
            seed=c.config.seed,
            metrics=metrics[c.key],
            predictions=c.out / "predictions.csv",
        )
        for c in cells
    ]


def finish_imbalance(
    cfg: ImbalanceConfig,
    out: Path,
    cells: list[Cell],
    metrics: dict[str, dict[str, Any]],
    syn_part: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """Aggregate finished cells: ``results.json``, ``results.csv``, ``report.html``, done."""
    from lesiongan.experiments.report import build_report

    dataset = Path(cfg.dataset)
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    records = records_of(cells, metrics)
    results = {
        "experiment": "imbalance",
        "classes": classes,
        "dataset": {**dataset_summary(dataset, ds), "fingerprint": dataset_fingerprint(dataset)},
        "strategies": list(dict.fromkeys(c.key.split("/")[0] for c in cells)),
        "real_only_strategies": [s for s in cfg.strategies if not uses_synthetic(s)],
        "seeds": cfg.seeds,
        "baseline": BASELINE,
        **syn_part,
        "runs": {
            c.key: {
                "dir": relative_path(c.out, out),
                "strategy": c.config.strategy,
                "seed": c.config.seed,
                **({"generator": c.generator} if c.generator else {}),
                "metrics": metrics[c.key],
            }
            for c in cells
        },
        **aggregate_records(cfg, records, classes),
        "code_revision": git_revision(),
        "seconds": round(seconds, 1),
    }
    if cfg.variants:
        results["variants"] = variant_results(cfg, out, results, records)
    write_results(out, results)
    build_report(out)
    write_status(out, DONE)
    return results


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
