"""Helpers for the GAN tests (imported by name: tests/gan is on sys.path while they run)."""

from __future__ import annotations

from pathlib import Path

import torch

from lesiongan.config import load_config
from lesiongan.gan.config import GanConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "gan-tiny.yaml"


def tiny_config(**overrides: object) -> GanConfig:
    return load_config(GanConfig, TINY, overrides)


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_sigkill_resume_is_bit_identical(
    config: Path, reference_run: Path, dataset: Path, tmp_path: Path
) -> None:
    """SIGKILL ``gan train --config CONFIG`` once its first checkpoint exists, run the same
    command with ``--resume``: the end must equal ``reference_run`` (the same config trained
    without interruption) bit for bit; then a changed ``--config`` is a one-line error."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from lesiongan.gan.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "lesiongan", "gan", "train", str(dataset)]
    cmd += ["--out", str(out), "--config", str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    # the first checkpoint after the initial one: the kill lands mid-run, not before step 1
    while len(list_checkpoints(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list_checkpoints(out), proc.stderr.read().decode()
    assert json.loads((out / "status.json").read_text())["state"] == "running"
    resumed = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(latest_checkpoint(reference_run))
    b = load_checkpoint(latest_checkpoint(out))
    assert a["cur_nimg"] == b["cur_nimg"]
    for key in ("G", "D", "G_ema"):
        assert state_equal(a[key], b[key]), key
    # a changed --config on resume is a one-line error naming the key
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("seed: 0", "seed: 1"))
    bad = subprocess.run(
        [*cmd[:-1], str(other), "--resume"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "seed (saved 0, now 1)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
