"""The ``finetune`` cells of an imbalance experiment: a few runs again with another classifier
(e.g. full fine-tuning beside the cached-feature cells), run names ``ft-NAME``.

``finetune.cells`` names runs of the experiment (``oversample``,
``synthetic-balance@unselected``) or, chosen on the validation split once every other cell has
finished (the plan defers them until then):

- ``reference``: the reference real-only strategy (as the results choose it);
- ``best-synthetic``: the cell that adds synthetic images (CAS excluded) with the highest mean
  validation ``reference_metric``, pooled over its generators.

The fine-tuned cells are compared with the fine-tuned reference, a family of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.classify.config import ClassifyConfig
from lesiongan.experiments.cells import Cell
from lesiongan.experiments.config import ImbalanceConfig, expand_strategy, strategy_settings
from lesiongan.experiments.records import RunRecord, validation_summary
from lesiongan.experiments.results import CAS_STRATEGY, adds_synthetic, choose_reference

SYMBOLIC = ("reference", "best-synthetic")  # names chosen on validation


def finetune_names(
    cfg: ImbalanceConfig, records: list[RunRecord] | None, classes: list[str]
) -> tuple[list[str], dict[str, str]] | None:
    """The run names to fine-tune and ``{symbolic name: the run it chose}``; None while a
    symbolic name waits for the cells it is chosen from (``records`` None: not all finished)."""
    assert cfg.finetune is not None
    names = list(cfg.finetune.cells)
    if not any(n in SYMBOLIC for n in names):
        return names, {}
    if records is None:
        return None
    validation = validation_summary(records, classes)
    chosen: dict[str, str] = {}
    real_only = [s for s in cfg.strategies if not adds_synthetic(s) and s in validation]
    chosen["reference"] = choose_reference(cfg, validation, real_only)[0]
    metric = cfg.reference_metric
    synthetic = [s for s in validation if adds_synthetic(s) and not s.startswith(CAS_STRATEGY)]
    scores = {s: validation[s].get(metric) for s in synthetic}
    scores = {s: v for s, v in scores.items() if v is not None and np.isfinite(v)}
    if scores:
        chosen["best-synthetic"] = max(scores, key=lambda s: scores[s])
    out = [chosen.get(n, n) for n in names if n not in SYMBOLIC or n in chosen]
    return list(dict.fromkeys(out)), {n: chosen[n] for n in names if n in chosen}


def finetune_cells(
    cfg: ImbalanceConfig,
    names: list[str],
    dataset: Path,
    runs: Path,
    sets: dict[tuple[str, str], Path],
) -> list[Cell]:
    """The ``ft-NAME`` cells of ``names`` (run names of the experiment): a real-only name once,
    a ``STRATEGY@VARIANT`` name once per generator of that variant (``sets``: ``(variant,
    generator) -> synthetic directory``), each with the finetune classifier settings."""
    assert cfg.finetune is not None
    cells = []
    for name in names:
        strategy, _, variant = name.partition("@")
        where = [(g, syn) for (v, g), syn in sets.items() if v == variant] if variant else []
        for generator, syn in where or [("", None)]:
            base = f"ft-{name}/{generator}" if generator else f"ft-{name}"
            for seed in cfg.finetune.seeds:
                cells.append(
                    Cell(
                        f"{base}/seed-{seed}",
                        dataset,
                        runs / base / f"seed-{seed}",
                        _classify(cfg, strategy, seed),
                        syn,
                        generator,
                    )
                )
    return cells


def _classify(cfg: ImbalanceConfig, strategy: str, seed: int) -> ClassifyConfig:
    assert cfg.finetune is not None
    extra = strategy_settings(strategy)
    sampler = {**(cfg.classify.get("sampler") or {}), **(extra.get("sampler") or {})}
    data: dict[str, Any] = {
        **cfg.classify,
        **cfg.finetune.classify,
        **({"sampler": sampler} if sampler else {}),
        "strategy": expand_strategy(strategy),
        "seed": seed,
        "bootstrap": cfg.bootstrap,
    }
    return ClassifyConfig.model_validate(data)
