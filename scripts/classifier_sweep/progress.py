"""Where the runs of an unfinished sweep stand: epochs done, seconds per epoch, validation score.

A sweep whose runs cannot finish on this machine (the full fine-tune: hours per epoch on two
shared cores) still leaves a record: ``<name>-progress.json`` beside the sweep file, read from
each run's ``status.json`` and ``history.jsonl``. It holds no test metric (none was computed).

    python scripts/classifier_sweep/progress.py \
        docs/results/classifier-sweep/finetune-isic128-targets.yaml --runs /work/runs/h2-sweep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def run_progress(run_dir: Path) -> dict:
    status_path, history_path = run_dir / "status.json", run_dir / "history.jsonl"
    if not status_path.is_file():
        return {"state": "not started"}
    status = json.loads(status_path.read_text())
    history = [json.loads(line) for line in history_path.read_text().splitlines() if line]
    state = status.get("state")
    return {
        "state": "stopped unfinished" if state == "running" else state,
        "epochs_done": status.get("epochs_done"),
        "epochs": status.get("epochs"),
        "epoch_seconds": [round(h["seconds"], 1) for h in history],
        "val_balanced_accuracy": [round(h["val_balanced_accuracy"], 4) for h in history],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", type=Path)
    ap.add_argument("--runs", type=Path, default=Path("/work/runs/h2-sweep"))
    ap.add_argument("--note", default="", help="what stopped the runs, in one sentence")
    args = ap.parse_args()
    spec = yaml.safe_load(args.spec.read_text())
    runs_name = spec.get("runs_as", args.spec.stem)
    runs = []
    for setting in spec["settings"]:
        for seed in spec["seeds"]:
            row = {"setting": setting, "seed": seed}
            row.update(run_progress(args.runs / runs_name / setting / f"s{seed}"))
            runs.append(row)
    out = args.spec.with_name(f"{args.spec.stem}-progress.json")
    record = {
        "sweep": args.spec.stem,
        "dataset": spec["dataset"],
        "base": spec.get("base", {}),
        "finished": all(r["state"] == "done" for r in runs),
        "note": args.note,
        "command": f"python scripts/classifier_sweep/progress.py {args.spec}",
        "runs": runs,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
