"""Ordered parallel map over worker processes, with a progress callback."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
ProgressFn = Callable[[int, int], None]


def default_workers() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> list[R]:
    """``[fn(x) for x in items]`` on ``workers`` processes (1: in this process), results in input
    order so that outputs never depend on the number of workers. ``fn`` must be picklable."""
    workers = default_workers() if workers is None else max(1, workers)
    total = len(items)
    results: list[R] = []
    if workers == 1 or total <= 1:
        for x in items:
            results.append(fn(x))
            if progress:
                progress(len(results), total)
        return results
    workers = min(workers, total)
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        chunk = max(1, min(16, total // (workers * 8)))
        for r in pool.map(fn, items, chunksize=chunk):
            results.append(r)
            if progress:
                progress(len(results), total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C, do not wait for queued work
    return results
