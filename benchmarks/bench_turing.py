"""Speed of the Turing test: ``turing create`` at 256 px, and the server under concurrent raters
(answers per second and request latencies through uvicorn on loopback).

    .venv/bin/python benchmarks/bench_turing.py [--n-per-class 25] [--raters 20] [--size 256]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx2
import uvicorn

from common import WORK, write_result
from lesiongan.data.manifest import load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synth import SynthConfig, run_synth
from lesiongan.turing.app import build_app
from lesiongan.turing.study import StudyConfig, run_create


def make_inputs(root: Path, n_per_class: int, size: int) -> tuple[Path, Path]:
    """A prepared procedural dataset; its train images stand in for GAN samples (speed only)."""
    n = int(4 * n_per_class / 0.127) + 10  # enough keratoses in the test split
    run_synth(root / "src", SynthConfig(n=n, size=size, seed=0))
    run_prepare(root / "src", root / "ds", PrepareConfig(size=size))
    ds = load_dataset(root / "ds")
    syn = root / "syn"
    (syn / "images").mkdir(parents=True)
    lines = ["image_id,label,path,seed,checkpoint_sha256,d_score"]
    for k, r in enumerate(ds.split_rows("train")):
        shutil.copyfile(ds.image_path(r), syn / "images" / f"s{k}.png")
        lines.append(f"s{k},{r.label},images/s{k}.png,{k},{'0' * 64},0.0")
    (syn / "manifest.csv").write_text("\n".join(lines) + "\n")
    (syn / "gan_train_images.csv").write_text(
        "image_id,label,source_sha256\n"
        + "".join(f"{r.image_id},{r.label},{r.source_sha256}\n" for r in ds.split_rows("train"))
    )
    return root / "ds", syn


def image_bytes(db_path: Path) -> list[int]:
    """Distinct byte lengths of the stored images (one value: sizes reveal nothing)."""
    from lesiongan.turing import db

    conn = db.open_study(db_path)
    return sorted({r[0] for r in conn.execute("SELECT DISTINCT LENGTH(data) FROM items")})


def rater(base: str, token: str, latencies: dict[str, list[float]], lock: threading.Lock) -> None:
    with httpx2.Client(base_url=base, timeout=60) as c:
        while True:
            t0 = time.perf_counter()
            html = c.get(f"/r/{token}").text
            t1 = time.perf_counter()
            if 'name="item" value="' not in html:
                return
            item = html.split('name="item" value="')[1].split('"')[0]
            csrf = html.split('name="csrf" value="')[1].split('"')[0]
            c.get(f"/r/{token}/image/{item}").raise_for_status()
            t2 = time.perf_counter()
            data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf}
            c.post(f"/r/{token}/answer", data=data, follow_redirects=False)
            t3 = time.perf_counter()
            with lock:
                latencies["page"].append(t1 - t0)
                latencies["image"].append(t2 - t1)
                latencies["answer"].append(t3 - t2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=25)
    ap.add_argument("--raters", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    work = WORK / "turing"
    shutil.rmtree(work, ignore_errors=True)
    ds, syn = make_inputs(work, args.n_per_class, args.size)
    cfg = StudyConfig(
        n_per_class=args.n_per_class,
        classes=["melanoma", "seborrheic_keratosis"],
        raters=[f"r{k}" for k in range(args.raters)],
    )
    t0 = time.perf_counter()
    info = run_create(ds, syn, work / "study.sqlite", cfg)
    create_s = time.perf_counter() - t0

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(info.db_path), port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    latencies: dict[str, list[float]] = {"page": [], "image": [], "answer": []}
    lock = threading.Lock()
    base = f"http://127.0.0.1:{port}"
    threads = [
        threading.Thread(target=rater, args=(base, r.token, latencies, lock)) for r in info.raters
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    serve_s = time.perf_counter() - t0
    server.should_exit = True
    n_answers = len(latencies["answer"])

    def ms(values: list[float], q: int) -> float:
        return round(1000 * statistics.quantiles(values, n=100)[q - 1], 1)

    write_result(
        "turing",
        {
            "command": f"benchmarks/bench_turing.py --n-per-class {args.n_per_class} "
            f"--raters {args.raters} --size {args.size}",
            "n_images": info.n_items,
            "size_px": info.size_px,
            "image_bytes": image_bytes(info.db_path),
            "create_seconds": round(create_s, 2),
            "concurrent_raters": args.raters,
            "n_answers": n_answers,
            "answers_per_s": round(n_answers / serve_s, 1),
            "latency_ms_p50": {k: ms(v, 50) for k, v in latencies.items()},
            "latency_ms_p95": {k: ms(v, 95) for k, v in latencies.items()},
            "note": "client threads and server share the machine's cores",
        },
    )


if __name__ == "__main__":
    main()
