"""``experiment status`` of an experiment run by the local launcher (no SLURM needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.config import save_config
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.kinds import open_experiment
from lesiongan.experiments.slurm import experiment_status
from lesiongan.utils.stage import write_status


def test_status_shows_a_local_job_in_progress_as_running(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """The local launcher's cell whose process is alive (it holds the cell's lock) is
    ``running``; once that process is gone (a stale lock) it is ``pending`` again: a rerun
    resumes it."""
    syn = make_synthetic_dir(tmp_path / "syn", tiny_dataset, {"melanoma": 4})
    cfg = ImbalanceConfig.model_validate(
        {
            "dataset": str(tiny_dataset),
            "strategies": ["none"],
            "seeds": [0],
            "classify": {"image_size": 16, "epochs": 1, "batch_size": 8},
            "sample": {"synthetic": str(syn)},
        }
    )
    out = tmp_path / "exp"
    open_experiment(out, cfg, "imbalance", False)
    cell = out / "runs" / "none" / "seed-0"
    cell.mkdir(parents=True)
    save_config(cfg.classify_config("none", 0), cell / "config.yaml")  # as a started run has
    write_status(cell, "running")
    holder = subprocess.Popen(  # another process, alive, holding the cell's lock
        [sys.executable, "-c", HOLD, str(cell)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = holder.stdout.readline() if holder.stdout else ""
        assert line.strip() == "locked", line + (holder.stdout.read() if holder.stdout else "")
        rows = experiment_status(out)
        assert [(r.key, r.state) for r in rows] == [("none/seed-0", "running")], rows
    finally:
        holder.kill()
        holder.wait()
    rows = experiment_status(out)
    assert [(r.key, r.state) for r in rows] != [("none/seed-0", "running")], rows


HOLD = """
import sys, time
from pathlib import Path
from lesiongan.utils.outdir import stage_lock
with stage_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""
