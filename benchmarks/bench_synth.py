"""Speed of ``data synth``: procedural ISIC-layout images per second (the issue's target:
2000 images at 256 px in about a minute on 2 cores).

    .venv/bin/python benchmarks/bench_synth.py [--n 2000] [--size 256]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, write_result
from lesiongan.data.synth import SynthConfig, run_synth
from lesiongan.utils.parallel import default_workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    out = WORK / "synth"
    shutil.rmtree(out, ignore_errors=True)
    workers = default_workers()
    t0 = time.perf_counter()
    run_synth(out, SynthConfig(n=args.n, size=args.size), workers=workers)
    dt = time.perf_counter() - t0
    write_result(
        "synth",
        {
            "command": f"benchmarks/bench_synth.py --n {args.n} --size {args.size}",
            "n_images": args.n,
            "size_px": [args.size, round(args.size * 4 / 3)],
            "workers": workers,
            "seconds": round(dt, 1),
            "images_per_s": round(args.n / dt, 1),
        },
    )
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
