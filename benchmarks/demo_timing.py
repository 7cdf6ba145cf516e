"""How long ``lesiongan demo`` (``make demo``) and ``demo --quick`` take, from nothing but .venv.

Runs the demo in a fresh output directory with a fresh feature cache (``$LESIONGAN_CACHE``), as
``make demo`` does (no ``OMP_NUM_THREADS``), under ``/usr/bin/time -v``, and records its wall
clock, user + system CPU seconds (the demo and every worker it waited for), peak memory, and the
1-minute load average sampled every 15 s while it ran (a shared machine is not idle). Each mode
is kept under its own key in ``benchmarks/results/demo.json``, so running one leaves the other.

Idle wall clock is estimated from the CPU seconds, not measured, when the machine was busy:
every stage of the demo keeps both cores of a 2-core machine busy at best (two classifier
workers, or one process with two torch threads), so an idle 2-core run takes at least
CPU / 2 seconds and at most CPU seconds; the JSON states which was measured and which estimated.

    .venv/bin/python benchmarks/demo_timing.py [--quick] [--keep DIR]
    .venv/bin/python benchmarks/demo_timing.py --render   # rewrite the pages' timing:demo blocks
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine

ROOT = Path(__file__).resolve().parents[1]
RESULT = RESULTS / "demo.json"
TARGET_MIN = {"full": 15, "quick": 3}  # issue 24: on an idle 2-core machine, .venv built
BUSY_LOAD = 1.5  # a 1-minute load above this (beyond the demo's own 2) is a busy machine
PAGES = ("README.md", "docs/demo.md", "docs/benchmarks.md")


def parse_time_v(text: str) -> dict[str, float]:
    """The figures of GNU time's ``-v`` report that the JSON keeps."""
    found = {}
    for key, label in (
        ("user_s", "User time (seconds)"),
        ("system_s", "System time (seconds)"),
        ("max_rss_kb", "Maximum resident set size (kbytes)"),
    ):
        m = re.search(rf"^\s*{re.escape(label)}: ([0-9.]+)$", text, re.M)
        if m:
            found[key] = float(m[1])
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", text)
    if m:
        parts = [float(p) for p in m[1].split(":")]
        found["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return found


def run_demo(quick: bool, out: Path, cache: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(LESIONGAN_CACHE=str(cache), PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "lesiongan", "demo", "--out", str(out)] + ["--quick"] * quick
    report = out.parent / "time-v.txt"
    loads: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(15):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample, daemon=True).start()
    load_before = os.getloadavg()
    with open(out.parent / "demo.log", "w") as log:
        proc = subprocess.Popen(
            ["/usr/bin/time", "-v", "-o", str(report), *cmd],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopped together when interrupted
        )
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            raise
    done.set()
    figures = parse_time_v(report.read_text()) if report.is_file() else {}
    figures["load_1min_before"] = round(load_before[0], 2)
    figures["load_1min_mean_during"] = round(sum(loads) / len(loads), 2) if loads else None
    figures["load_1min_max_during"] = round(max(loads), 2) if loads else None
    return code, figures


def summarize(quick: bool, f: dict[str, Any], out: Path) -> dict[str, Any]:
    cpu = f["user_s"] + f["system_s"]
    mode = "quick" if quick else "full"
    busy = (f.get("load_1min_mean_during") or 0) > 2 + BUSY_LOAD
    entry: dict[str, Any] = {
        "command": "lesiongan demo" + (" --quick" if quick else ""),
        "wall_s": round(f["wall_s"], 1),
        "cpu_s": round(cpu, 1),
        "user_s": f["user_s"],
        "system_s": f["system_s"],
        "max_rss_mb": round(f.get("max_rss_kb", 0) / 1024),
        "load_1min_before": f["load_1min_before"],
        "load_1min_mean_during": f["load_1min_mean_during"],
        "load_1min_max_during": f["load_1min_max_during"],
        "machine_busy": busy,
        "target_idle_min": TARGET_MIN[mode],
    }
    if busy:
        entry["idle_wall_estimate_s"] = [round(cpu / 2, 1), round(cpu, 1)]
        entry["idle_wall_method"] = (
            "estimated: the machine was busy (mean load above), so wall_s is not the idle "
            "figure; an idle 2-core run keeps at most both cores busy, so it takes between "
            "cpu_s / 2 (both cores busy throughout) and cpu_s (one core at a time)"
        )
    else:
        entry["idle_wall_method"] = "measured: wall_s on a machine with no other load"
    results = out / "experiment" / "results.json"
    if results.is_file():
        r = json.loads(results.read_text())
        entry["experiment_s"] = r.get("seconds")
        entry["classifier_runs"] = len(r.get("runs") or {})
        entry["strategies"] = sorted(r.get("summary") or {})
    return entry


def minutes(s: float) -> str:
    total = round(s)
    return f"{total // 60} min {total % 60:02d} s"


def render_block(data: dict[str, Any]) -> str:
    """The markdown the pages quote between ``<!-- timing:demo -->`` markers."""
    lines = [
        "| command | wall clock | CPU (user + sys) | load during (1-min mean) | idle 2-core |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode in ("full", "quick"):
        e = data.get(mode)
        if not e:
            continue
        idle = (
            f"{minutes(e['idle_wall_estimate_s'][0])} to {minutes(e['idle_wall_estimate_s'][1])}"
            " (estimated)"
            if "idle_wall_estimate_s" in e
            else f"{minutes(e['wall_s'])} (measured)"
        )
        lines.append(
            f"| `{e['command']}` | {minutes(e['wall_s'])} | {e['cpu_s']:.0f} s | "
            f"{e['load_1min_mean_during']} | {idle} |"
        )
    cpu = data.get("machine", {}).get("cpu", "?")
    cores = data.get("machine", {}).get("cores", "?")
    lines.append("")
    lines.append(
        f"Measured on {cores} cores ({cpu}) from `.venv` alone, with a fresh output directory "
        "and feature cache (`benchmarks/demo_timing.py`, `benchmarks/results/demo.json`)."
    )
    return "\n".join(lines)


def render_pages(root: Path = ROOT) -> list[Path]:
    data = json.loads((root / RESULT.relative_to(ROOT)).read_text())
    block = render_block(data)
    changed = []
    for page in PAGES:
        path = root / page
        text = path.read_text(encoding="utf-8")
        new = re.sub(
            r"(<!-- timing:demo -->)\n?.*?\n?(<!-- /timing:demo -->)",  # empty or filled
            lambda m: m[1] + "\n" + block + "\n" + m[2],
            text,
            flags=re.S,
        )
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", type=Path, help="run here and keep the outputs (default: a temp dir)")
    ap.add_argument("--render", action="store_true", help="only rewrite the pages' blocks")
    args = ap.parse_args()
    if args.render:
        for path in render_pages():
            print(f"-> {path}")
        return
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="demo-timing-"))
    if (work / "demo").exists():
        sys.exit(f"{work / 'demo'} exists: give a fresh --keep directory")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    code, figures = run_demo(args.quick, work / "demo", work / "cache")
    if code != 0:
        sys.exit(f"the demo failed (exit {code}); see {work / 'demo.log'}")
    entry = summarize(args.quick, figures, work / "demo")
    entry["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    data = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    data.update(benchmark="demo", machine=machine())
    data["quick" if args.quick else "full"] = entry
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(entry, indent=2))
    print(f"-> {RESULT}")
    if not args.keep:
        shutil.rmtree(work / "cache", ignore_errors=True)


if __name__ == "__main__":
    main()
