"""The registry of experiment kinds, and running one with the local launcher.

Each kind names its config class and its planner (config, directory -> :class:`Plan`); every
launcher runs that one plan: :func:`run_experiment` here (this machine) and
:mod:`lesiongan.experiments.slurm` (a cluster). A new kind is one entry in :data:`KINDS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesiongan.config import Config, load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.errors import LesionganError
from lesiongan.experiments.config import (
    ExperimentBase,
    GeneratorsConfig,
    ImbalanceConfig,
    ScarcityConfig,
)
from lesiongan.experiments.gans import check_gan_runs
from lesiongan.experiments.generators import check_generators, plan_generators
from lesiongan.experiments.imbalance import plan_imbalance
from lesiongan.experiments.jobs import Plan
from lesiongan.experiments.local import JobFn, run_plan
from lesiongan.experiments.scarcity import plan_scarcity
from lesiongan.experiments.stages import StageFn, no_progress
from lesiongan.utils.stage import (
    StageRun,
    begin_stage,
    locked_stage,
    read_saved_config,
    write_status,
)


@dataclass(frozen=True)
class ExperimentKind:
    name: str
    config: type[Config]
    plan: Callable[[Any, Path], Plan]
    # input directories besides the dataset (reused runs): overlap checks, provenance
    inputs: Callable[[Any], list[Path]] = lambda cfg: []


KINDS: dict[str, ExperimentKind] = {
    "imbalance": ExperimentKind("imbalance", ImbalanceConfig, plan_imbalance, check_gan_runs),
    "scarcity": ExperimentKind("scarcity", ScarcityConfig, plan_scarcity),
    "generators": ExperimentKind("generators", GeneratorsConfig, plan_generators, check_generators),
}


def get_kind(name: str) -> ExperimentKind:
    if name not in KINDS:
        raise LesionganError(
            f"unknown experiment kind {name!r} (known: {', '.join(sorted(KINDS))})"
        )
    return KINDS[name]


def open_experiment(out: Path, cfg: ExperimentBase, kind: str, force: bool = False) -> None:
    """Create the experiment directory (config, provenance, status), or check that an existing
    one ran this config (the stage owner decides; ``launcher`` may change between runs).

    An experiment directory is filled job by job, not atomically: re-running it continues
    (finished jobs are reused, interrupted ones resume) and aggregates again.
    """
    out = Path(out)
    k = get_kind(kind)
    stage = _begin(out, cfg, k, force)
    if not stage.is_new:
        stage.continued()  # a finetune block added after the other cells ran: recorded
        stage.status("running")
        return
    with stage.write() as tmp:  # --force replaces it once complete
        stage.provenance = {"dataset": {"path": str(Path(cfg.dataset).resolve())}}
        write_status(tmp, "running")


# lists (and the scarcity's fraction -> runs map) an experiment may grow: every cell of the old
# entries is still planned, and reused
GROWABLE = ("seeds", "strategies", "variants", "fractions", "generators", "gan_runs")


def _holds(new: Any, old: Any) -> bool:
    if isinstance(old, list) and isinstance(new, list):
        return all(x in new for x in old)
    if isinstance(old, dict) and isinstance(new, dict):
        return all(k in new and new[k] == v for k, v in old.items())
    return False


def grown_keys(saved: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The :data:`GROWABLE` entries of ``new`` that hold every entry of ``saved``'s and more (a
    list that lost an entry, or changed one, is not grown: the stage refuses it)."""
    return [k for k in GROWABLE if saved.get(k) != new.get(k) and _holds(new.get(k), saved.get(k))]


def _begin(out: Path, cfg: ExperimentBase, kind: ExperimentKind, force: bool) -> StageRun:
    """The experiment directory's stage: continued whatever its state (``resume=None``).

    ``launcher`` may change between runs, and so may ``finetune``: its cells are chosen from the
    finished ones, so a finished experiment can take the block later and runs only those cells
    (a finetune cell whose own settings then change is refused by its own stage). The lists of
    :data:`GROWABLE` may grow (more seeds, strategies, variants, fractions or generators): the
    new cells run, the others are reused, and every table is computed again over all of them.
    A list that loses an entry is refused (its cells would linger, unreported)."""
    inputs = [Path(cfg.dataset), *kind.inputs(cfg)]
    saved = read_saved_config(out, kind.config) if not force else None
    grown = grown_keys(saved.model_dump(mode="json") if saved else {}, cfg.model_dump(mode="json"))
    return begin_stage(
        out,
        cfg,
        inputs,
        name=f"experiment {kind.name}",
        force=force,
        resumable=True,
        resume=None,
        may_change=("launcher", "finetune", *grown),
    )


@locked_stage("out")  # one process runs an experiment directory; a failure says so in status
def run_experiment(
    kind: str,
    cfg: ExperimentBase,
    out: Path,
    force: bool = False,
    stage: StageFn = no_progress,
    on_job: JobFn | None = None,
) -> dict[str, Any]:
    """Open the directory, then run the kind's plan here (``cfg.workers`` cells at once)."""
    k = get_kind(kind)
    out = Path(out)
    load_dataset(Path(cfg.dataset))  # a bad dataset or config fails before anything is written
    if out.exists():  # a directory made with other settings: one line naming its keys
        _begin(out, cfg, k, force)
    k.plan(cfg, out)
    open_experiment(out, cfg, kind, force)
    return run_plan(lambda: k.plan(cfg, out), cfg.workers, stage, on_job)


def load_experiment(out: Path) -> tuple[str, ExperimentBase]:
    """The kind and config of an experiment directory (from ``config.yaml`` and provenance)."""
    out = Path(out)
    if not (out / "config.yaml").is_file():
        raise LesionganError(f"{out}: not an experiment directory (no config.yaml)")
    try:
        stage = json.loads((out / "provenance.json").read_text())["stage"]
    except (OSError, ValueError, KeyError):
        stage = ""
    if not stage.startswith("experiment "):
        raise LesionganError(f"{out}: not an experiment directory (stage {stage!r})")
    kind = get_kind(stage.removeprefix("experiment ").strip())
    return kind.name, load_config(kind.config, out / "config.yaml")  # type: ignore[return-value]
