"""An imbalance experiment's results: aggregation of its finished runs, and the files it writes.

From :class:`~lesiongan.experiments.records.RunRecord` s (an experiment directory's cells, or an
exported results directory: the same function either way, so ``lesiongan report`` re-derives
every number from committed files):

- ``summary``: each strategy's test metrics over its runs (mean, Student-t interval);
- ``validation``: each strategy's validation metrics; the reference real-only strategy is the
  best of them on ``reference_metric`` (never chosen on the test split);
- ``paired`` (against ``none``) and ``paired_vs_reference``: hierarchical paired bootstrap
  differences on every endpoint (:mod:`lesiongan.experiments.stats`);
- ``calls``: better / worse / equivalent / inconclusive for every cell that adds synthetic
  images, on the primary endpoints and balanced accuracy, Holm-corrected over those cells;
- per variant: selection, realism, and CAS against the reference.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lesiongan.data.manifest import PreparedDataset
from lesiongan.data.synthetic import read_info
from lesiongan.evaluate.metrics import keys_in, with_floor_and_classes
from lesiongan.experiments.aggregate import classification_accuracy_score
from lesiongan.experiments.config import ExperimentBase, ImbalanceConfig, uses_synthetic
from lesiongan.experiments.records import (
    RunRecord,
    by_strategy,
    summarize_records,
    validation_summary,
)
from lesiongan.experiments.stats import PRIMARY, hierarchical_differences, verdict_calls
from lesiongan.utils.outdir import write_text_atomic

BASELINE = "none"
FINETUNED = "ft-"  # run names of the finetune cells (another classifier path, own family)
CAS_STRATEGY = "synthetic-only"
CALL_ENDPOINTS = (*PRIMARY, "balanced_accuracy")


def choose_reference(
    cfg: ExperimentBase, validation: dict[str, Any], real_only: list[str]
) -> tuple[str, str]:
    """(reference strategy, how it was chosen)."""
    if getattr(cfg, "reference", "best") != "best":
        return cfg.reference, "set in the config"
    metric = cfg.reference_metric
    ranked = [s for s in real_only if s in validation]
    best = max(ranked, key=lambda s: validation[s].get(metric) or 0.0)
    return best, f"highest mean validation {metric} among {', '.join(ranked)}"


def aggregate_records(
    cfg: ExperimentBase, records: list[RunRecord], classes: list[str], calls: bool = True
) -> dict[str, Any]:
    """Everything the verdict needs, from the runs alone (see the module doc)."""
    groups = by_strategy(records)
    preds = {
        s: {(r.generator, r.seed): r.split("test", classes) for r in rs} for s, rs in groups.items()
    }
    summary = summarize_records(records, classes)
    validation = validation_summary(records, classes)

    def against(ref: str, finetuned: bool = False) -> dict[str, Any]:
        """Every strategy of the same classifier path (cached cells, or ``ft-`` cells)."""
        ref_preds = {seed: p for (_, seed), p in preds[ref].items()}
        return {
            s: hierarchical_differences(ref_preds, p, classes, cfg.bootstrap, margin=cfg.margin)
            for s, p in preds.items()
            if s != ref and s.startswith(FINETUNED) == finetuned
        }

    out: dict[str, Any] = {"summary": summary, "validation": validation}
    out["paired"] = against(BASELINE) if BASELINE in preds else {}
    # only the experiment's own strategies may be the reference (not the ft- ones)
    real_only = [s for s in cfg.strategies if not uses_synthetic(s) and s in preds]
    if real_only:
        ref, how = choose_reference(cfg, validation, real_only)
        out["reference"] = ref
        out["reference_chosen_by"] = how
        out["paired_vs_reference"] = out["paired"] if ref == BASELINE else against(ref)
        family = {
            s: d
            for s, d in out["paired_vs_reference"].items()
            if adds_synthetic(s) and not s.startswith((CAS_STRATEGY, FINETUNED))
        }
        if calls:
            out["calls"] = verdict_calls(family, list(CALL_ENDPOINTS), cfg.alpha)
            out["statistics"] = statistics_note(cfg, len(family))
        if FINETUNED + ref in preds:  # the fine-tuned cells: against the fine-tuned reference
            ft = against(FINETUNED + ref, finetuned=True)
            out["finetune"] = {
                "reference": FINETUNED + ref,
                "paired_vs_reference": ft,
                "calls": verdict_calls(ft, list(CALL_ENDPOINTS), cfg.alpha),
            }
    return out


def statistics_note(cfg: ExperimentBase, family: int) -> dict[str, Any]:
    """How the intervals and calls were made (the report prints it beside the numbers)."""
    return {
        "bootstrap": cfg.bootstrap,
        "levels": "generators, classifier seeds and test images, resampled together (paired)",
        "interval": "95 % percentile",
        "equivalence": f"TOST against ±{cfg.margin:g} (90 % interval inside the margin)",
        "correction": f"Holm over the {family} cells that add synthetic images, per endpoint, "
        "for the difference and the equivalence test separately",
        "alpha": cfg.alpha,
        "primary": list(PRIMARY),
    }


def adds_synthetic(strategy: str) -> bool:
    """Whether a run name (``STRATEGY[@VARIANT]``, maybe ``ft-``) adds synthetic images."""
    return uses_synthetic(strategy.removeprefix(FINETUNED).split("@")[0])


def dataset_summary(path: Path, ds: PreparedDataset) -> dict[str, Any]:
    """What the report shows about the dataset: where, counts per split, image size."""
    return {
        "path": str(path.resolve()),
        "counts": ds.info["counts"],
        "image_size": ds.info.get("image_size"),
    }


# what the results keep of a variant's realism audit (the registry's table keys, each with its
# real-vs-real floor; audits at equal n also FID's interval and n)
REALISM_KEYS = (
    "features_id",
    "n",
    *with_floor_and_classes((*keys_in("table"), "fid_ci_low", "fid_ci_high"), ()),
)


def variant_results(
    cfg: ImbalanceConfig, out: Path, results: dict[str, Any], records: list[RunRecord]
) -> dict[str, Any]:
    """Per variant: how it was selected (per generator), realism when audited, and CAS: its
    synthetic-only runs over the reference's, per classifier seed (mean over generators)."""
    variants = {}
    ref = results.get("reference") or BASELINE
    for v in cfg.variants:
        gens = cfg.gan.generator_ids()
        entry: dict[str, Any] = {"select": v.select, "keep": v.keep, "classifier": v.classifier}
        per_gen = {}
        for g in gens:
            syn = out / "synthetic" / v.name / g if g else out / "synthetic" / v.name
            info = read_info(syn) if syn.is_dir() else {}
            item: dict[str, Any] = {
                "dir": relative_path(syn, out),
                "selection": info.get("selection"),
                "counts": info.get("counts"),
            }
            audit = (
                out / "audit" / v.name / g / "realism" if g else out / "audit" / v.name / "realism"
            )
            if (audit / "metrics.json").is_file():
                m = json.loads((audit / "metrics.json").read_text())
                item["realism"] = {k: m.get(k) for k in ("features", *REALISM_KEYS) if k in m}
            per_gen[g] = item
        if gens == [""]:
            entry.update(per_gen[""])
        else:
            entry["generators"] = per_gen
        if cfg.cas:
            entry.update(cas_entries(cfg, records, v.name, ref))
        variants[v.name] = entry
    return variants


def cas_entries(
    cfg: ImbalanceConfig, records: list[RunRecord], variant: str, ref: str
) -> dict[str, Any]:
    """CAS of a variant (its synthetic-only runs over the reference's, per classifier seed,
    averaged over generators), on balanced accuracy and on macro AUC."""
    groups = by_strategy(records)
    key = f"{CAS_STRATEGY}@{variant}"
    if key not in groups or ref not in groups:
        return {}
    out: dict[str, Any] = {"cas_reference": ref}
    for metric, name in (("balanced_accuracy", "cas"), ("macro_auc", "cas_macro_auc")):
        out[name] = classification_accuracy_score(
            _per_seed(groups[key], metric), _per_seed(groups[ref], metric)
        )
    return out


def _per_seed(records: list[RunRecord], key: str) -> dict[int, float]:
    """Each classifier seed's metric, averaged over generators."""
    vals: dict[int, list[float]] = {}
    for r in records:
        if r.metrics.get(key) is not None:
            vals.setdefault(r.seed, []).append(float(r.metrics[key]))
    return {s: sum(v) / len(v) for s, v in vals.items()}


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
