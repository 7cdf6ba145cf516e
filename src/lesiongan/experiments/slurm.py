"""Experiments on a SLURM cluster: every unfinished job of a plan submitted through submitit.

``submit_experiment`` plans the experiment (:mod:`lesiongan.experiments.plan`), asks the stage
owner which jobs are done, and submits the rest: the GAN and sampling jobs one by one, the
classifier cells of a stage as one job array, each with ``--dependency=afterok:`` on the jobs
it needs (``--kill-on-invalid-dep=yes``: a failed GAN cancels its dependants instead of leaving
them pending forever). A job still pending or running from an earlier submission is kept, not
submitted twice. What was submitted goes to ``DIR/jobs.json`` (key -> job id, logs).

A GAN job with ``gpus_per_node > 1`` is one SLURM task that runs
``python -m torch.distributed.run --standalone --nproc_per_node=N -m lesiongan gan train ...``
(``submitit.helpers.CommandFunction``): torchrun starts one process per GPU, as on a
workstation; submitit's own tasks are not used.

``experiment_status`` tells each job's state from its stage directory (``done``) and SLURM
(``squeue``; ended jobs by submitit's result file: an error, or none at all when the job was
killed); ``aggregate_experiment`` aggregates once every job is done.
"""

from __future__ import annotations

import datetime as _dt
import json
import pickle
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesiongan.errors import InUseError, LesionganError
from lesiongan.experiments.config import ExperimentBase, LauncherConfig, SlurmResources
from lesiongan.experiments.jobs import Job, Plan, run_job
from lesiongan.experiments.kinds import get_kind, load_experiment, open_experiment
from lesiongan.utils.outdir import write_text_atomic
from lesiongan.utils.stage import DONE, RESUME, read_status, write_status

JOBS_FILE = "jobs.json"
PENDING, RUNNING, FAILED = "pending", "running", "failed"
_LIVE = {
    "PENDING": PENDING,
    "CONFIGURING": PENDING,
    "REQUEUED": PENDING,
    "RESIZING": PENDING,
    "SUSPENDED": PENDING,
    "RUNNING": RUNNING,
    "COMPLETING": RUNNING,
    "STAGE_OUT": RUNNING,
}


@dataclass
class JobStatus:
    key: str
    stage: str
    state: str  # pending | running | done | failed
    job_id: str | None
    log: str | None  # the job's stderr file
    error: str | None = None  # the last error line of a failed job


def plan_experiment(kind: str, cfg: ExperimentBase, out: Path) -> Plan:
    """The kind's plan: the same one the local launcher runs."""
    return get_kind(kind).plan(cfg, out)


def load_jobs(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(out) / JOBS_FILE).read_text())
    except (OSError, ValueError):
        return {"jobs": {}}
    return data if isinstance(data, dict) and "jobs" in data else {"jobs": {}}


def check_slurm() -> None:
    """Raise a one-line error when no SLURM controller answers here."""
    try:
        subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LesionganError(f"--launcher slurm: no SLURM cluster answers (sinfo: {exc})") from None


def submit_experiment(
    kind: str, cfg: ExperimentBase, out: Path, force: bool = False
) -> dict[str, dict[str, Any]]:
    """Submit every unfinished job of the experiment; returns ``{key: record}`` submitted now.

    Records hold ``job_id``, ``stage``, ``dir``, ``stdout``, ``stderr``, ``after``.
    """
    out = Path(out)
    check_slurm()
    get_kind(kind).plan(cfg, out)  # a bad config fails before anything is written
    open_experiment(out, cfg, kind, force)
    plan = plan_experiment(kind, cfg, out)
    states = {j.key: j.task.state() for j in plan.jobs}  # every check before any submission
    record = load_jobs(out)
    known: dict[str, dict[str, Any]] = record["jobs"]
    live = slurm_states([r["job_id"] for r in known.values()])
    ids: dict[str, str] = {}  # job key -> job id to wait for (submitted now or still live)
    for key, r in known.items():
        if states.get(key) not in (None, DONE) and live.get(r["job_id"]) in (PENDING, RUNNING):
            ids[key] = r["job_id"]
    todo = [j for j in plan.jobs if states[j.key] != DONE and j.key not in ids]
    folder = Path(cfg.launcher.folder) if cfg.launcher.folder else out / "slurm"
    submitted: dict[str, dict[str, Any]] = {}
    for group in _groups(todo):
        deps = sorted({ids[k] for j in group for k in j.after if k in ids})
        for job, sjob in zip(group, _submit_group(group, deps, cfg.launcher, folder, states)):
            ids[job.key] = sjob.job_id
            submitted[job.key] = {
                "job_id": sjob.job_id,
                "stage": job.stage,
                "dir": str(job.out),
                "stdout": str(sjob.paths.stdout),
                "stderr": str(sjob.paths.stderr),
                "after": deps,
                "submitted_utc": _now(),
            }
    known.update(submitted)
    record.update(
        experiment=kind,
        folder=str(folder),
        first_submitted_utc=record.get("first_submitted_utc") or _now(),
        jobs=known,
    )
    write_text_atomic(out / JOBS_FILE, json.dumps(record, indent=2) + "\n")
    return submitted


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """Consecutive classifier cells that wait for the same jobs form one array; others alone."""
    groups: list[list[Job]] = []
    for j in jobs:
        prev = groups[-1][-1] if groups else None
        if prev and j.stage == prev.stage == "classify" and j.after == prev.after:
            groups[-1].append(j)
        else:
            groups.append([j])
    return groups


def _submit_group(
    group: list[Job], deps: list[str], launcher: LauncherConfig, folder: Path, states: dict
) -> list[Any]:
    import submitit

    # gan / sample / classify have their own resources; the other short serial jobs (data,
    # features, audit) run with the sampling jobs' resources
    res: SlurmResources = getattr(launcher, group[0].stage, launcher.sample)
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    extra = dict(res.slurm_additional_parameters)
    if deps:
        extra |= {"dependency": "afterok:" + ":".join(deps), "kill_on_invalid_dep": "yes"}
    params: dict[str, Any] = {
        "name": f"lesiongan-{group[0].stage}",
        "timeout_min": res.timeout_min,
        "nodes": 1,
        "tasks_per_node": 1,
        "cpus_per_task": res.cpus_per_task,
        "slurm_array_parallelism": res.array_parallelism,
        # one torch thread per CPU asked for: more threads than CPUs thrash a shared node
        "slurm_setup": [f"export OMP_NUM_THREADS={res.cpus_per_task}", *res.setup],
        "slurm_additional_parameters": extra,
    }
    if res.partition:
        params["slurm_partition"] = res.partition
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    if res.mem_gb:
        params["mem_gb"] = res.mem_gb
    executor.update_parameters(**params)
    if len(group) > 1:
        with executor.batch():
            jobs = [executor.submit(run_job, j.task) for j in group]
        return jobs
    job = group[0]
    multi_gpu = getattr(job.task, "multi_gpu_command", None)  # a task that can use them all
    if multi_gpu is not None and res.gpus_per_node > 1:
        from submitit.helpers import CommandFunction

        folder.mkdir(parents=True, exist_ok=True)
        cfg_file = folder / f"{job.key.replace('/', '-')}.yaml"
        cmd = multi_gpu(res.gpus_per_node, cfg_file, states[job.key] == RESUME)
        return [executor.submit(CommandFunction(cmd, verbose=True))]
    return [executor.submit(run_job, job.task)]


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """``{job_id: pending | running | ENDED_STATE}`` for jobs SLURM still knows (``squeue``)."""
    if not job_ids:
        return {}
    bases = sorted({j.split("_")[0] for j in job_ids})
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(bases)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in proc.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        states[jid] = _LIVE.get(state, state)
    return states


def experiment_status(out: Path) -> list[JobStatus]:
    """Every job of the experiment in DIR, planned again from its ``config.yaml``."""
    kind, cfg = load_experiment(out)
    plan = plan_experiment(kind, cfg, out)
    known = load_jobs(out)["jobs"]
    live = slurm_states([r["job_id"] for r in known.values()])
    rows = []
    for job in plan.jobs:
        r = known.get(job.key)
        row = JobStatus(job.key, job.stage, PENDING, r and r["job_id"], r and r["stderr"])
        try:
            done = job.task.state() == DONE
        except InUseError:  # a live process holds the job's directory (the local launcher)
            row.state = RUNNING
            rows.append(row)
            continue
        except LesionganError as exc:  # e.g. the directory was made with other settings
            row.state, row.error = FAILED, str(exc)
            rows.append(row)
            continue
        if done:
            row.state = DONE
        elif r is None and read_status(job.out).get("state") == RUNNING:
            row.state = RUNNING  # a local launcher's job whose process is alive (a held lock)
        elif r is not None:
            slurm = live.get(r["job_id"])
            if slurm in (PENDING, RUNNING):
                row.state = slurm
            else:  # ended (or forgotten by SLURM) without finishing its stage
                row.state, row.error = FAILED, _failure(r, slurm)
        rows.append(row)
    return rows


def _result_error(r: dict[str, Any]) -> str | None:
    """The last line of the exception in submitit's result file, when the job raised one."""
    from submitit.core.utils import JobPaths

    jid = r["job_id"]
    path = JobPaths(Path(r["stderr"]).parent, job_id=jid).result_pickle
    try:
        with open(path, "rb") as f:
            outcome, value = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
        return None
    if outcome != "error":
        return None
    lines = [line for line in str(value).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "error"


def _failure(r: dict[str, Any], slurm_state: str | None) -> str:
    """Why a job ended without finishing its stage: its exception, else its log's last error."""
    err = _result_error(r)
    if err:
        return err
    try:
        lines = Path(r["stderr"]).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [x for x in lines if "error" in x.lower() or "cancelled" in x.lower()]
    last = (errors or [x for x in lines if x.strip()] or [""])[-1].strip()
    return last or f"job {r['job_id']} ended ({slurm_state or 'unknown state'}) without a result"


def aggregate_experiment(out: Path) -> dict[str, Any]:
    """``results.json`` and the report, once every job is done (else a one-line error)."""
    out = Path(out)
    rows = experiment_status(out)
    left = [r for r in rows if r.state != DONE]
    if left:
        counts = {s: sum(r.state == s for r in left) for s in (PENDING, RUNNING, FAILED)}
        what = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        raise LesionganError(f"{out}: {len(left)} jobs not done ({what}), first {left[0].key}")
    kind, cfg = load_experiment(out)
    record = load_jobs(out)
    start = record.get("first_submitted_utc")
    seconds = 0.0
    if start:
        seconds = (
            _dt.datetime.now(_dt.timezone.utc) - _dt.datetime.fromisoformat(start)
        ).total_seconds()
    results = plan_experiment(kind, cfg, out).finish(set(record["jobs"]), seconds)
    write_status(out, DONE)
    return results


def wait_experiment(
    out: Path,
    poll_s: float = 10.0,
    on_poll: Callable[[list[JobStatus]], None] | None = None,
    timeout_s: float | None = None,
) -> list[JobStatus]:
    """Poll until no job is pending or running; returns the final states."""
    start = time.monotonic()
    while True:
        rows = experiment_status(out)
        if on_poll:
            on_poll(rows)
        if not any(r.state in (PENDING, RUNNING) for r in rows):
            return rows
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise LesionganError(f"{out}: jobs still pending or running after {timeout_s:.0f} s")
        time.sleep(poll_s)


__all__ = [
    "JOBS_FILE",
    "JobStatus",
    "aggregate_experiment",
    "experiment_status",
    "submit_experiment",
    "wait_experiment",
]
