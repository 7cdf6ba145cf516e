"""The local launcher: runs an experiment's plan on this machine.

Planning and running alternate: plan (which jobs exist, which are finished), run the next
step, plan again, until every job is finished and nothing is deferred; then aggregate with the
plan's ``finish``. A step is either one serial job (GAN training, sampling, features: in this
process, every core, with a progress display) or every ready parallel job (classifier cells and
realism audits: ``workers`` processes with one torch thread each; two threads per process
thrash a shared CPU).
The stage owner decides each job's state, so a re-run skips finished jobs and resumes
interrupted ones, exactly as the SLURM launcher does.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from lesiongan.errors import LesionganError
from lesiongan.experiments.cells import quiet_worker, stop_pool
from lesiongan.experiments.jobs import Job, Plan
from lesiongan.experiments.stages import StageFn, no_progress
from lesiongan.utils.stage import DONE

# (job key, "reused" | "trained", seconds, jobs finished, jobs planned)
JobFn = Callable[[str, str, float, int, int], None]


def run_plan(
    planner: Callable[[], Plan],
    workers: int = 1,
    stage: StageFn = no_progress,
    on_job: JobFn | None = None,
) -> dict[str, Any]:
    """Run every unfinished job ``planner()`` lists, planning again after each step."""
    start = time.perf_counter()
    ran: set[str] = set()
    told: set[str] = set()  # finished jobs already reported to on_job
    while True:
        plan = planner()
        states = {j.key: j.task.state() for j in plan.jobs}  # every check before any work
        done = {k for k, s in states.items() if s == DONE}
        for j in plan.jobs:
            if j.key in done and j.key not in told and j.key not in ran:
                told.add(j.key)
                if on_job:
                    on_job(j.key, "reused", 0.0, len(told) + len(ran), len(plan.jobs))
        todo = [j for j in plan.jobs if j.key not in done]
        if not todo:
            if plan.deferred:
                raise LesionganError(
                    f"experiment plan: {plan.deferred[0]} cannot be planned although every "
                    "planned job is finished"
                )
            return plan.finish(ran, time.perf_counter() - start)
        ready = [j for j in todo if all(a in done or a not in states for a in j.after)]
        if not ready:
            raise LesionganError(f"experiment plan: {todo[0].key} waits for a job never planned")
        serial = [j for j in ready if not j.parallel]

        def finished(key: str, seconds: float, total: int = len(plan.jobs)) -> None:
            ran.add(key)
            if on_job:
                on_job(key, "trained", seconds, len(told) + len(ran), total)

        if serial:
            job = serial[0]
            t0 = time.perf_counter()
            with _all_cores(), stage(job.stage) as progress:
                job.task(progress=progress)
            finished(job.key, time.perf_counter() - t0)
        else:
            _run_parallel(ready, workers, finished)


def _run_parallel(jobs: list[Job], workers: int, finished: Callable[[str, float], None]) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            t0 = time.perf_counter()
            job.task()
            finished(job.key, time.perf_counter() - t0)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=quiet_worker
    )
    futures = {pool.submit(_in_worker, job.task): job.key for job in jobs}
    try:
        for fut in as_completed(futures):
            finished(futures[fut], fut.result())
    except BaseException:
        # Ctrl-C or a failed job: stop the others now. Each keeps its last finished epoch, so
        # the next run resumes them (waiting would take up to a whole cell).
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _in_worker(task: Any) -> float:
    """A job in a worker process: one torch thread and one BLAS thread (an audit's numpy
    products would otherwise take every core beside the other workers), no nested process pool
    for image loading."""
    import torch
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        task(workers=1)
    return time.perf_counter() - t0


@contextlib.contextmanager
def _all_cores() -> Iterator[None]:
    """A serial job runs alone: let it use every core (a worker may have set one thread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(before, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)
