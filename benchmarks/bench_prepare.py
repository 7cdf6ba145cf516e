"""Throughput of ``data prepare`` on ISIC-sized JPEGs (images/s), 1 worker and all workers.

Source images: the real ISIC 2017 sample (four 4288x2848 and two 1024x768 JPEGs), copied under
new ids into an ISIC 2017 layout of ``--n`` images. Also times one large JPEG decoded with and
without DCT-domain downscaling (``Image.draft``), the reason prepare is fast on 6000 px images.

    .venv/bin/python benchmarks/bench_prepare.py [--n 96] [--size 256]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, write_result
from lesiongan.data.images import center_crop_resize, load_rgb
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.utils.parallel import default_workers

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017-sample"


def build_source(n: int, root: Path) -> list[tuple[int, int]]:
    originals = sorted((SAMPLE / "ISIC-2017_Validation_Data").glob("ISIC_*[0-9].jpg"))
    if not originals:
        sys.exit(f"ISIC sample not found at {SAMPLE}")
    data = root / "ISIC-2017_Training_Data"
    data.mkdir(parents=True)
    rows, sizes = ["image_id,melanoma,seborrheic_keratosis"], []
    for i in range(n):
        src = originals[i % len(originals)]
        image_id = f"ISIC_{i:07d}"
        shutil.copyfile(src, data / f"{image_id}.jpg")
        rows.append(f"{image_id},{float(i % 3 == 0):.1f},{float(i % 3 == 1):.1f}")
        with Image.open(src) as im:
            sizes.append(im.size)
    (root / "ISIC-2017_Training_Part3_GroundTruth.csv").write_text("\n".join(rows) + "\n")
    return sizes


def time_decode(path: Path, size: int, repeats: int = 5) -> dict[str, float]:
    out = {}
    for name, min_side in (("draft", size), ("full", None)):
        t0 = time.perf_counter()
        for _ in range(repeats):
            im, _ = load_rgb(path, min_side_px=min_side)
            center_crop_resize(im, size)
        out[f"{name}_ms"] = round((time.perf_counter() - t0) / repeats * 1000, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    shutil.rmtree(WORK / "prepare", ignore_errors=True)
    src = WORK / "prepare" / "src"
    sizes = build_source(args.n, src)
    large = sorted(src.glob("*/*.jpg"), key=lambda p: p.stat().st_size)[-1]
    runs = {}
    for workers in sorted({1, default_workers()}):
        out = WORK / "prepare" / f"out-{workers}"
        t0 = time.perf_counter()
        run_prepare(src, out, PrepareConfig(size=args.size), workers=workers)
        dt = time.perf_counter() - t0
        runs[f"workers_{workers}"] = {
            "seconds": round(dt, 2),
            "images_per_s": round(args.n / dt, 1),
        }
    result = {
        "command": f"benchmarks/bench_prepare.py --n {args.n} --size {args.size}",
        "n_images": args.n,
        "target_size_px": args.size,
        "source_sizes_px": sorted({f"{w}x{h}" for w, h in sizes}),
        "runs": runs,
        "one_4288x2848_jpeg": time_decode(large, args.size),
    }
    write_result("prepare", result)
    shutil.rmtree(WORK / "prepare", ignore_errors=True)


if __name__ == "__main__":
    main()
