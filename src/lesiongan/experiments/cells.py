"""The classifier runs of an experiment ("cells"): cached, resumable, optionally in parallel.

A cell is one ``classify train`` run directory. Its life is decided by
:func:`lesiongan.utils.stage.open_stage`, as for every stage: a finished cell with the same
config is skipped on re-run; an interrupted one resumes from its last finished epoch; one made
with other settings is an error naming the keys, unless ``force``. Parallel cells run in
worker processes with one torch thread each (two threads per process thrash a shared CPU).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from lesiongan.classify.config import ClassifyConfig
from lesiongan.utils.stage import open_stage


@dataclass(frozen=True)
class Cell:
    key: str  # e.g. "synthetic-balance/seed-0"
    dataset: Path
    out: Path
    config: ClassifyConfig
    synthetic: Path | None
    generator: str = ""  # which of the experiment's GANs made ``synthetic`` ("" = the only one)


def cell_status(cell: Cell, force: bool) -> str:
    """``done`` (reuse), ``resume`` (interrupted, same config) or ``new``."""
    inputs = [cell.dataset] + ([cell.synthetic] if cell.synthetic else [])
    return open_stage(
        cell.out, cell.config, inputs, force=force, resumable=True, done_files=("metrics.json",)
    ).state


def quiet_worker() -> None:
    """Workers leave Ctrl-C to the main process (which stops them), so they print nothing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_cell(cell: Cell, status: str, threads: int | None) -> tuple[str, float]:
    import torch

    from lesiongan.classify.run import run_classify

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    run_classify(
        cell.dataset,
        cell.out,
        cell.config,
        cell.synthetic,
        resume=status == "resume",
        force=status == "new" and cell.out.exists(),  # only when the experiment was forced
        workers=1 if threads else None,  # inside a parallel worker: no nested process pool
    )
    return cell.key, time.perf_counter() - start


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (Ctrl-C or a failure): their stages resume on the next run."""
    for proc in list(getattr(pool, "_processes", {}).values()):  # CPython's pool
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_cells(
    cells: list[Cell],
    workers: int = 1,
    force: bool = False,
    on_done: Callable[[str, str, float, int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every cell that is not finished; returns ``{key: metrics}`` of all cells.

    ``on_done(key, how, seconds, n_done, n_total)``: ``how`` is ``reused`` or ``trained``.
    """
    statuses = {c.key: cell_status(c, force) for c in cells}  # all checks before any work
    todo = [c for c in cells if statuses[c.key] != "done"]
    done = 0
    for c in cells:
        if statuses[c.key] == "done":
            done += 1
            if on_done:
                on_done(c.key, "reused", 0.0, done, len(cells))
    if workers <= 1 or len(todo) <= 1:
        for c in todo:
            key, seconds = _run_cell(c, statuses[c.key], None)
            done += 1
            if on_done:
                on_done(key, "trained", seconds, done, len(cells))
    else:
        ctx = get_context("spawn")  # no forked torch state
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=quiet_worker)
        futures = [pool.submit(_run_cell, c, statuses[c.key], 1) for c in todo]
        try:
            for fut in as_completed(futures):
                key, seconds = fut.result()
                done += 1
                if on_done:
                    on_done(key, "trained", seconds, done, len(cells))
        except BaseException:
            # Ctrl-C or a failed cell: stop the other cells now. Each keeps its last finished
            # epoch, so the next run resumes them (waiting would take up to a whole cell).
            stop_pool(pool)
            raise
        pool.shutdown(wait=True)
    return {c.key: json.loads((c.out / "metrics.json").read_text()) for c in cells}
