"""Exact nearest-neighbour search (``lesiongan.evaluate.neighbors``) time vs set size.

N query x N reference features of dimension D (2048: Inception pool3), k = 5, chunked matrix
products on the CPU (or ``--device cuda``).

    .venv/bin/python benchmarks/bench_nn.py [--sizes 1000 2500 5000 10000] [--dim 2048]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.evaluate.neighbors import nearest_neighbors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        q = rng.standard_normal((n, args.dim), dtype=np.float32)
        r = rng.standard_normal((n, args.dim), dtype=np.float32)
        t0 = time.perf_counter()
        nearest_neighbors(q, r, 5, torch.device(args.device))
        dt = time.perf_counter() - t0
        rows.append({"n_query": n, "n_reference": n, "dim": args.dim, "seconds": round(dt, 2)})
        print(rows[-1], flush=True)
    write_result(
        f"eval_nn_{torch.device(args.device).type}",
        {
            "command": "benchmarks/bench_nn.py --sizes "
            + " ".join(map(str, args.sizes))
            + f" --dim {args.dim} --threads {args.threads} --device {args.device}",
            "k": 5,
            "threads": args.threads,
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
