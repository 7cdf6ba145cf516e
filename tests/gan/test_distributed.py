"""Two CPU processes on gloo (torchrun --standalone): the replicas stay identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow
def test_two_process_gloo_run_keeps_replicas_identical(tiny_dataset: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tiny_dataset),
        str(tmp_path / "run"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert hashes[0] == hashes[1]
    assert (tmp_path / "run" / "status.json").is_file()
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "done"
