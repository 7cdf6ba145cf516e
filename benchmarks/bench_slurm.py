"""``--launcher slurm`` overhead: submission time per cell, time to aggregate finished cells.

Needs a SLURM that answers (``scripts/slurm-local.sh start``). Submits an imbalance experiment
of ``--cells`` classifier cells held (``sbatch --hold``, so nothing runs), times the submission
(planning, the stage checks, one job array), then cancels it. The aggregation is timed on a
finished experiment directory (``--done DIR``, e.g. one the tests or
``experiment imbalance ... --launcher slurm --wait`` left). Results go to
``benchmarks/results/slurm.json``.

    .venv/bin/python benchmarks/bench_slurm.py --dataset ds --synthetic syn --done exp
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.slurm import aggregate_experiment, submit_experiment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--synthetic", type=Path, required=True)
    ap.add_argument("--cells", type=int, default=32)
    ap.add_argument("--done", type=Path, help="a finished --launcher slurm experiment")
    args = ap.parse_args()
    seeds = list(range(args.cells // 2))
    cfg = ImbalanceConfig.model_validate(
        {
            "dataset": str(args.dataset),
            "strategies": ["none", "synthetic-balance"],
            "seeds": seeds,
            "classify": {"image_size": 16, "epochs": 1},
            "sample": {"synthetic": str(args.synthetic)},
            "launcher": {
                "kind": "slurm",
                "classify": {"slurm_additional_parameters": {"hold": True}},
            },
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        jobs = submit_experiment("imbalance", cfg, Path(tmp) / "exp")
        submit_s = time.perf_counter() - start
        ids = sorted({r["job_id"].split("_")[0] for r in jobs.values()})
        subprocess.run(["scancel", *ids], check=False)
    result = {
        "cells": len(jobs),
        "submit_s": round(submit_s, 3),
        "submit_s_per_cell": round(submit_s / len(jobs), 4),
    }
    if args.done:
        start = time.perf_counter()
        results = aggregate_experiment(args.done)
        result |= {
            "aggregate_cells": len(results["runs"]),
            "aggregate_s": round(time.perf_counter() - start, 2),
        }
    write_result("slurm", result)


if __name__ == "__main__":
    main()
