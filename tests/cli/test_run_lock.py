"""Issue 19 item 2, as a user meets it: two ``gan train`` started at once in one directory
(exactly one trains), ``--resume`` on a live run (refused, naming the PID), and a run killed with
SIGKILL (its lock frees itself, its status shows how far it got and reads as stopped,
``--resume`` finishes it without logging a tick twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lesiongan.gan.checkpoint import list_checkpoints
from lesiongan.utils.stage import read_status

ROOT = Path(__file__).resolve().parents[2]
SETS = ["--set", "schedule.stabilize_kimg=0.4", "--set", "schedule.fade_kimg=0.4"]


def _train(dataset: Path, out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "lesiongan", "gan", "train", str(dataset), "--out", str(out)]
    return [*cmd, "--config", str(ROOT / "configs" / "gan-tiny.yaml"), *SETS, *extra]


def _ticks(out: Path) -> list[float]:
    return [json.loads(x)["kimg"] for x in (out / "stats.jsonl").read_text().splitlines()]


def test_two_runs_started_at_once_exactly_one_trains(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(_train(tiny_dataset, out), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    ended = [(p.pid, *p.communicate(timeout=600), p.returncode) for p in procs]
    trained = [e for e in ended if e[3] == 0 and "finished at" in e[1]]
    assert len(trained) == 1, ended
    winner = trained[0][0]
    pid, stdout, stderr, code = next(e for e in ended if e != trained[0])
    # the other one was refused while the first trained (or, started late, found it finished)
    refused = code == 1 and f"in use by PID {winner} since " in stderr
    assert refused or (code == 0 and "already finished" in stdout), (pid, stdout, stderr)
    assert "Traceback" not in stderr
    ticks = _ticks(out)
    assert ticks == sorted(set(ticks))  # no tick written twice
    assert read_status(out)["state"] == "done"


def test_resume_on_a_live_run_is_refused_and_a_killed_run_resumes(
    cli, tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_train(tiny_dataset, out), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(list_checkpoints(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert proc.poll() is None, "the run ended before the test could meet it"
        code, _, err = cli(*_train(tiny_dataset, out, "--resume")[3:])
        assert code == 1
        assert f"{out}: in use by PID {proc.pid} since " in err and "Traceback" not in err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    status = read_status(out)
    assert status["state"] == "stopped" and status["kimg"] > 0  # as far as its last tick
    assert "killed" in status["reason"]  # status.json says running, but its process is gone
    assert json.loads((out / "status.json").read_text())["state"] == "running"
    assert status["kimg"] == max(_ticks(out))
    code, _, err = cli(*_train(tiny_dataset, out, "--resume")[3:])  # the lock freed itself
    assert code == 0, err
    assert read_status(out)["state"] == "done"
    ticks = _ticks(out)
    assert ticks[-1] == read_status(out)["kimg"]
    assert ticks == sorted(set(ticks))  # ticks logged after the last checkpoint are not doubled
