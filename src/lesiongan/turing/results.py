"""Results of a visual Turing test: can raters tell synthetic images from real ones?

"Positive" is *synthetic*: sensitivity is the share of synthetic images called synthetic,
specificity the share of real images called real, accuracy the share of correct answers.
Chance is 0.5 (the study is balanced), tested with an exact two-sided binomial test and given
a Clopper-Pearson 95 % interval. Agreement between raters is Fleiss' kappa (Fleiss 1971,
"Measuring nominal scale agreement among many raters") over real/synthetic answers. Items rated
by fewer than two raters are left out; when items have unequal numbers of ratings (a rater who
has not finished), each item's agreement uses its own number of ratings and the category shares
are pooled over all ratings, which is exactly Fleiss 1971 when every item has the same number.
The fool rate of an image is the share of its ratings that were wrong.

``results.json`` (flat; a statistic that is undefined, e.g. kappa with one rater, is null):
- ``n_raters``, ``n_items``, ``n_items_real``, ``n_items_synthetic``, ``n_answers``
- pooled over all answers: ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``,
  ``sensitivity``, ``specificity``, ``binomial_p`` (answers are not independent across raters:
  read the per-rater tests first), ``mean_rater_accuracy``
- ``fleiss_kappa``, ``fleiss_kappa_n_items``
- ``fool_rate_synthetic_mean``, ``fool_rate_real_mean`` (mean over images)
- per class: ``accuracy_<class>``, ``sensitivity_<class>``, ``specificity_<class>``,
  ``n_answers_<class>``
- per confidence k = 1..5: ``accuracy_confidence_<k>``, ``n_answers_confidence_<k>``
- diagnosis (when given): ``diagnosis_accuracy_real``, ``diagnosis_accuracy_synthetic``,
  ``n_diagnoses_real``, ``n_diagnoses_synthetic``
- per rater (name made snake_case): ``accuracy_rater_<name>``, ``sensitivity_rater_<name>``,
  ``specificity_rater_<name>``, ``binomial_p_rater_<name>``, ``n_answers_rater_<name>``
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from lesiongan.errors import DataError
from lesiongan.turing import db
from lesiongan.utils.stage import begin_stage

RATER_COLUMNS = (
    "rater",
    "n_answers",
    "n_correct",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "sensitivity",
    "specificity",
    "binomial_p",
    "mean_confidence",
)


def compute_fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items x categories matrix of rating counts (NaN when undefined)."""
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    keep = n_i >= 2
    counts, n_i = counts[keep], n_i[keep]
    if len(counts) == 0:
        return math.nan
    p_j = counts.sum(axis=0) / n_i.sum()
    p_i = ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar, p_e = float(p_i.mean()), float((p_j**2).sum())
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


def compute_binary_stats(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy (with exact test vs 0.5 and Clopper-Pearson CI), sensitivity, specificity."""
    n = len(answers)
    correct = sum(a["answer"] == a["source"] for a in answers)
    syn = [a for a in answers if a["source"] == "synthetic"]
    real = [a for a in answers if a["source"] == "real"]
    out: dict[str, Any] = {"n_answers": n, "n_correct": correct}
    if n == 0:
        keys = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "binomial_p", "mean_confidence")
        return {**out, **dict.fromkeys(keys), "sensitivity": None, "specificity": None}
    test = binomtest(correct, n, 0.5, alternative="two-sided")
    ci = test.proportion_ci(confidence_level=0.95, method="exact")
    out.update(
        accuracy=correct / n,
        accuracy_ci_low=float(ci.low),
        accuracy_ci_high=float(ci.high),
        sensitivity=_share(a["answer"] == "synthetic" for a in syn),
        specificity=_share(a["answer"] == "real" for a in real),
        binomial_p=float(test.pvalue),
        mean_confidence=float(np.mean([a["confidence"] for a in answers])),
    )
    return out


def compute_results(
    answers: list[dict[str, Any]], items: list[dict[str, Any]], rater_names: list[str]
) -> dict[str, Any]:
    """All tables of a study: per rater, per image, per class, by confidence; and the summary."""
    by_rater = {name: [a for a in answers if a["rater"] == name] for name in rater_names}
    raters = [{"rater": k, **compute_binary_stats(v)} for k, v in by_rater.items()]
    pooled = compute_binary_stats(answers)
    per_image = _per_image(answers, items)
    summary: dict[str, Any] = {
        "n_raters": sum(1 for v in by_rater.values() if v),
        "n_items": len(items),
        "n_items_real": sum(i["source"] == "real" for i in items),
        "n_items_synthetic": sum(i["source"] == "synthetic" for i in items),
        "n_answers": len(answers),
        **{k: pooled[k] for k in ("accuracy", "accuracy_ci_low", "accuracy_ci_high")},
        **{k: pooled[k] for k in ("sensitivity", "specificity", "binomial_p")},
        "mean_rater_accuracy": _mean(r["accuracy"] for r in raters if r["n_answers"]),
    }
    counts = np.array(
        [[r["n_ratings"] - r["n_called_synthetic"], r["n_called_synthetic"]] for r in per_image]
    ).reshape(-1, 2)
    kappa = compute_fleiss_kappa(counts)
    summary["fleiss_kappa"] = None if math.isnan(kappa) else kappa
    summary["fleiss_kappa_n_items"] = int((counts.sum(axis=1) >= 2).sum())
    for source in db.SOURCES:
        rates = [r["fool_rate"] for r in per_image if r["source"] == source and r["n_ratings"]]
        summary[f"fool_rate_{source}_mean"] = _mean(rates)
    per_class = []
    for label in sorted({i["label"] for i in items}):
        stats = compute_binary_stats([a for a in answers if a["label"] == label])
        per_class.append({"label": label, **stats})
        for key in ("accuracy", "sensitivity", "specificity", "n_answers"):
            summary[f"{key}_{label}"] = stats[key]
    by_conf = []
    for k in range(1, 6):
        sel = [a for a in answers if a["confidence"] == k]
        acc = _share(a["answer"] == a["source"] for a in sel)
        by_conf.append({"confidence": k, "n_answers": len(sel), "accuracy": acc})
        summary[f"accuracy_confidence_{k}"] = acc
        summary[f"n_answers_confidence_{k}"] = len(sel)
    for source in db.SOURCES:
        given = [a for a in answers if a["source"] == source and a["diagnosis"]]
        summary[f"diagnosis_accuracy_{source}"] = _share(
            a["diagnosis"] == a["label"] for a in given
        )
        summary[f"n_diagnoses_{source}"] = len(given)
    slugs: set[str] = set()
    for r in raters:
        slug = base = slugify(r["rater"])
        k = 1
        while slug in slugs:  # distinct names may share a slug ("A B", "a-b")
            k += 1
            slug = f"{base}_{k}"
        slugs.add(slug)
        for key in ("accuracy", "sensitivity", "specificity", "binomial_p", "n_answers"):
            summary[f"{key}_rater_{slug}"] = r[key]
    return {
        "summary": summary,
        "raters": raters,
        "pooled": pooled,
        "per_image": per_image,
        "per_class": per_class,
        "by_confidence": by_conf,
    }


def _per_image(answers: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in answers:
        grouped[a["public_id"]].append(a)
    rows = []
    for item in items:
        got = grouped.get(item["public_id"], [])
        wrong = sum(a["answer"] != a["source"] for a in got)
        rows.append(
            {
                "public_id": item["public_id"],
                "source": item["source"],
                "label": item["label"],
                "origin_id": item["origin_id"],
                "origin_path": item["origin_path"],
                "n_ratings": len(got),
                "n_called_synthetic": sum(a["answer"] == "synthetic" for a in got),
                "n_wrong": wrong,
                "fool_rate": wrong / len(got) if got else None,
                "mean_confidence": _mean(a["confidence"] for a in got),
            }
        )
    return rows


def run_results(db_path: Path, out: Path, force: bool = False) -> dict[str, Any]:
    """Read a study (also while it is being served) and write tables, JSON and plots to ``out``.

    The study changes while raters answer, so an existing ``out`` is never reused: it is
    refused without ``force`` (``reuse=False``).
    """
    stage = begin_stage(out, None, [Path(db_path)], name="turing results", force=force, reuse=False)
    conn = db.open_study(db_path, read_only=True)
    try:
        answers, items = db.load_answers(conn), db.load_items(conn)
        names = [r.name for r in db.raters(conn)]
        meta = {
            k: v for k, v in db.get_meta(conn).items() if k not in ("admin_token", "form_secret")
        }
    finally:
        conn.close()
    if not answers:
        raise DataError(f"{db_path}: no answers recorded yet")
    res = compute_results(answers, items, names)
    with stage.write() as tmp:
        (tmp / "results.json").write_text(json.dumps(res["summary"], indent=2) + "\n")
        rows = [*res["raters"], {"rater": "all", **res["pooled"]}]
        _write_csv(tmp / "results.csv", rows, RATER_COLUMNS)
        _write_csv(tmp / "per_image.csv", res["per_image"])
        _write_csv(tmp / "per_class.csv", res["per_class"])
        _write_csv(tmp / "by_confidence.csv", res["by_confidence"])
        _write_csv(tmp / "answers.csv", answers)
        (tmp / "study.json").write_text(json.dumps(meta, indent=2) + "\n")
        from lesiongan.turing.plots import save_plots

        save_plots(tmp, res)
        stage.provenance = {"study": str(Path(db_path).resolve())}
    return res["summary"]


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "rater"


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _write_csv(
    path: Path, rows: list[dict[str, Any]], columns: Sequence[str] | None = None
) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
