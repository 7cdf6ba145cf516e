"""``kill`` (SIGTERM) stops a run the way Ctrl-C does: the worker processes stop with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.experiments.slurm import experiment_status


def _workers(pid: int) -> list[int]:
    """The process-pool workers (``spawn_main``) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ppid = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("PPid:"))
        if ppid == pid and "spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has exited


def test_sigterm_stops_the_workers_and_exits_143(tiny_dataset: Path, tmp_path: Path) -> None:
    if not Path("/proc/self/status").is_file():
        import pytest

        pytest.skip("needs /proc")
    syn = make_synthetic_dir(tmp_path / "syn", tiny_dataset, {"melanoma": 4})
    config = tmp_path / "exp.yaml"
    config.write_text(  # cells long enough (many epochs) to be killed mid-run
        f"dataset: {tiny_dataset}\nstrategies: [none, oversample]\nseeds: [0, 1]\nworkers: 2\n"
        f"sample: {{synthetic: {syn}}}\n"
        "classify: {image_size: 16, epochs: 400, batch_size: 8}\n"
    )
    out = tmp_path / "exp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lesiongan", "experiment", "imbalance", str(config)]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    workers: list[int] = []
    while proc.poll() is None and time.monotonic() < deadline:
        workers = _workers(proc.pid)
        if len(workers) == 2 and any((out / "runs").rglob("status.json")):
            break
        time.sleep(0.1)
    assert len(workers) == 2, f"no two workers seen; {proc.poll()=}"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    text = stderr.decode()
    assert proc.returncode == 143, text
    assert "interrupted" in text and "Traceback" not in text, text
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers left running after SIGTERM"
    assert all(r.state != "running" for r in experiment_status(out))  # nothing looks alive
