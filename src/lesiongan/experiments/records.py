"""The finished classifier runs an experiment aggregates, wherever they live.

A :class:`RunRecord` is one run: its strategy, generator (``""`` for real-only runs or a single
generator) and classifier seed, its ``metrics.json`` and its ``predictions.csv`` (plain or
gzipped). Records come from an experiment directory (the cells) or from an exported results
directory (``runs.json`` plus ``predictions/*.csv.gz``), so ``lesiongan report`` re-derives every
table and interval from committed files without the experiment directory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.experiments.aggregate import Preds, summarize
from lesiongan.experiments.stats import run_metric_rows

VAL_KEYS = ("macro_auc", "balanced_accuracy", "melanoma_auc", "keratosis_auc")


@dataclass
class RunRecord:
    key: str  # "STRATEGY[/GENERATOR]/seed-S"
    strategy: str
    generator: str
    seed: int
    metrics: dict[str, Any]
    predictions: Path
    _rows: list[dict[str, str]] | None = field(default=None, repr=False)

    def rows(self) -> list[dict[str, str]]:
        if self._rows is None:
            self._rows = read_prediction_rows(self.predictions)
        return self._rows

    def split(self, split: str, classes: list[str]) -> Preds:
        """(image ids, labels, probabilities) of one split's real images."""
        rows = [r for r in self.rows() if r["split"] == split and r.get("source", "real") == "real"]
        ids = [r["image_id"] for r in rows]
        y = np.array([classes.index(r["label"]) for r in rows], dtype=np.int64)
        probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
        return ids, y, probs.reshape(len(rows), len(classes))

    def val_metrics(self, classes: list[str]) -> dict[str, float | None]:
        """Threshold-free and argmax metrics on the validation split (model selection only)."""
        _, y, probs = self.split("val", classes)
        if y.size == 0:
            return {k: None for k in VAL_KEYS}
        rows = run_metric_rows(y, probs, np.ones((1, y.size)), classes)
        out: dict[str, float | None] = {}
        for k in VAL_KEYS:
            v = rows.get(k)
            out[k] = None if v is None or np.isnan(v[0]) else float(v[0])
        return out


def read_prediction_rows(path: Path) -> list[dict[str, str]]:
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="") as f:
            return list(csv.DictReader(f))
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_strategy(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for r in records:
        out.setdefault(r.strategy, []).append(r)
    return out


def summarize_records(records: list[RunRecord], classes: list[str]) -> dict[str, Any]:
    """Mean and Student-t interval of each test metric per strategy, over all its runs."""
    grouped = {
        s: {i: r.metrics for i, r in enumerate(rs)} for s, rs in by_strategy(records).items()
    }
    return summarize(grouped, classes)  # type: ignore[arg-type]


def validation_summary(records: list[RunRecord], classes: list[str]) -> dict[str, Any]:
    """Per strategy, the mean over runs of each validation metric (what the reference is
    chosen on: never the test split)."""
    out: dict[str, Any] = {}
    for s, rs in by_strategy(records).items():
        vals = [r.val_metrics(classes) for r in rs]
        out[s] = {}
        for k in VAL_KEYS:
            v = [x[k] for x in vals if x[k] is not None]
            out[s][k] = float(np.mean(v)) if v else None
    return out


def export_predictions(records: list[RunRecord], dest: Path) -> dict[str, str]:
    """Write each run's real val/test predictions to ``dest/<key>.csv.gz``, values as the run
    wrote them (so aggregating the copies gives the same numbers), gzip with a fixed mtime (equal
    inputs, equal bytes). Returns ``{key: path relative to dest's parent}``."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for r in records:
        rows = [x for x in r.rows() if x["split"] in ("val", "test") and x.get("source") == "real"]
        if not rows:
            continue
        name = r.key.replace("/", "__") + ".csv.gz"
        buf = io.StringIO()
        cols = [c for c in rows[0] if c in ("image_id", "split", "source", "label", "pred")]
        cols += [c for c in rows[0] if c.startswith("prob_")]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([x[c] for c in cols] for x in rows)
        raw = gzip.compress(buf.getvalue().encode(), mtime=0)
        (dest / name).write_bytes(raw)
        out[r.key] = f"{dest.name}/{name}"
    return out


def records_from_export(root: Path) -> list[RunRecord]:
    """The runs of an exported results directory (``runs.json`` + ``predictions/``)."""
    data = json.loads((root / "runs.json").read_text())
    return [
        RunRecord(
            key=k,
            strategy=v["strategy"],
            generator=v.get("generator", ""),
            seed=int(v["seed"]),
            metrics=v["metrics"],
            predictions=root / v["predictions"],
        )
        for k, v in data["runs"].items()
    ]
