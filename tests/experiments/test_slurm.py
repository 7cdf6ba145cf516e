"""``experiment imbalance --launcher slurm`` against a real one-node SLURM.

Start one with ``scripts/slurm-local.sh start`` (``.ci/run`` does); without a cluster that
answers, these tests skip and say so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.imbalance import run_imbalance
from lesiongan.experiments.slurm import experiment_status, load_jobs, wait_experiment


def _slurm_reason() -> str | None:
    if not shutil.which("sbatch"):
        return "no SLURM here (no sbatch); run scripts/slurm-local.sh start"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo does not answer ({exc}); run scripts/slurm-local.sh start"
    states = proc.stdout.split()
    if proc.returncode or not {"idle", "mixed", "allocated"} & set(states):
        why = proc.stderr.strip() or states
        return f"no SLURM node up (sinfo: {why}); run scripts/slurm-local.sh start"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_slurm_reason() is not None, reason=str(_slurm_reason())),
]
MINORITY = {"melanoma": 8, "seborrheic_keratosis": 8}
POLL_S = 1.0


@pytest.fixture(scope="module")
def synthetic(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dir(tmp_path_factory.mktemp("slurm") / "syn", tiny_dataset, MINORITY)


def _config(path: Path, dataset: Path, synthetic: Path, **extra) -> Path:
    data = {
        "dataset": str(dataset),
        "strategies": ["none", "synthetic-balance"],
        "seeds": [0, 1],
        "classify": {"image_size": 16, "epochs": 1, "batch_size": 8},
        "bootstrap": 100,
        "sample": {"synthetic": str(synthetic)},
        "launcher": {"classify": {"cpus_per_task": 1, "timeout_min": 10}},
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _wait(out: Path, timeout_s: float = 150) -> list:
    return wait_experiment(out, POLL_S, timeout_s=timeout_s)


def test_slurm_cells_equal_local_cells(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path, cli, monkeypatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = _config(tmp_path / "exp.yaml", tiny_dataset, synthetic)
    out = tmp_path / "exp-slurm"
    start = time.perf_counter()
    code, stdout, err = cli("experiment", "imbalance", cfg, "--out", out, "--launcher", "slurm")
    submit_s = time.perf_counter() - start
    assert code == 0, err
    jobs = load_jobs(out)["jobs"]
    assert set(jobs) == {f"{s}/seed-{k}" for s in ("none", "synthetic-balance") for k in (0, 1)}
    ids = {r["job_id"] for r in jobs.values()}
    assert len({i.split("_")[0] for i in ids}) == 1  # one job array
    assert all(i in stdout for i in ids)  # the job ids are printed
    # the same command again while they run: nothing submitted twice
    code, stdout, _ = cli("experiment", "imbalance", cfg, "--out", out, "--launcher", "slurm")
    assert code == 0 and load_jobs(out)["jobs"] == jobs and "_" not in stdout
    code, _, err = cli("experiment", "aggregate", out, "--wait", "--wait-timeout", 3)
    assert code == 0, err
    slurm = json.loads((out / "results.json").read_text())
    local = run_imbalance(
        ImbalanceConfig.model_validate(yaml.safe_load(cfg.read_text())), tmp_path / "exp-local"
    )
    for key, run in local["runs"].items():
        assert slurm["runs"][key]["metrics"] == run["metrics"], key
    assert slurm["summary"] == local["summary"] and slurm["paired"] == local["paired"]
    prov = json.loads((out / "runs" / "none" / "seed-1" / "provenance.json").read_text())
    assert prov["slurm_job_id"] == jobs["none/seed-1"]["job_id"]
    code, stdout, _ = cli("experiment", "status", out)
    assert code == 0 and "4 done" in stdout
    print(f"submission: {submit_s / 4:.2f} s per cell")  # quoted in docs/cluster.md


def test_cancelled_job_is_resubmitted_and_resumes(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path, cli
) -> None:
    cfg = _config(
        tmp_path / "exp.yaml",
        tiny_dataset,
        synthetic,
        strategies=["none"],
        seeds=[0],
        classify={"image_size": 16, "epochs": 20, "batch_size": 8},
    )
    out = tmp_path / "exp"
    assert cli("experiment", "imbalance", cfg, "--out", out, "--launcher", "slurm")[0] == 0
    job = load_jobs(out)["jobs"]["none/seed-0"]
    status_file = out / "runs" / "none" / "seed-0" / "status.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # cancel it after its first finished epoch
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
        if status.get("epochs_done", 0) >= 1:
            break
        time.sleep(0.2)
    assert status.get("state") == "running", status
    subprocess.run(["scancel", job["job_id"]], check=True)
    rows = _wait(out)
    assert [r.state for r in rows] == ["failed"]
    code, _, err = cli(
        "experiment",
        "imbalance",
        cfg,
        "--out",
        out,
        "--launcher",
        "slurm",
        "--wait",
        "--wait-timeout",
        3,
    )
    assert code == 0, err
    again = load_jobs(out)["jobs"]["none/seed-0"]
    assert again["job_id"] != job["job_id"]
    assert "resumed" in Path(again["stderr"]).read_text()
    metrics = json.loads((out / "runs" / "none" / "seed-0" / "metrics.json").read_text())
    assert metrics["epochs"] == 20
    assert (out / "results.json").is_file()


def test_status_reports_a_failed_cells_error_line(tiny_dataset: Path, tmp_path: Path, cli) -> None:
    broken = make_synthetic_dir(tmp_path / "syn", tiny_dataset, MINORITY)
    bad = next((broken / "images").glob("*.png"))
    bad.write_bytes(b"not a png")  # found only when the job loads the images
    cfg = _config(
        tmp_path / "exp.yaml", tiny_dataset, broken, strategies=["synthetic-balance"], seeds=[0]
    )
    out = tmp_path / "exp"
    assert cli("experiment", "imbalance", cfg, "--out", out, "--launcher", "slurm")[0] == 0
    _wait(out)
    rows = experiment_status(out)
    assert [r.state for r in rows] == ["failed"]
    assert bad.name in rows[0].error
    code, stdout, _ = cli("experiment", "status", out)
    assert code == 1 and "failed" in stdout and bad.name in stdout
    code, _, err = cli("experiment", "aggregate", out)
    assert code != 0 and "not done" in err
