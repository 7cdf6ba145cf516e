"""The "Baselines on real ISIC 2017" table, rendered from committed results files only.

python scripts/classifier_sweep/baselines.py > docs/results/classifier-sweep/baselines.md
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "docs/results/classifier-sweep"
SCRATCH = ROOT / "docs/results/isic2017-cpu/results.csv"
# Published ISIC 2017 test-set numbers (600 official test images), for scale only.
# As quoted in issue 20: challenge winners 0.868 / 0.874 with extra data; the best single model
# without extra data, Perez et al. 2018 (arXiv 1809.01442), 0.882 with TTA; keratosis 0.94-0.97.
PUBLISHED = [
    ("challenge winners, with extra data", "0.868 / 0.874", "0.94-0.97"),
    ("Perez et al. 2018 (arXiv 1809.01442), no extra data, TTA", "0.882", "0.94-0.97"),
]


def _ci(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    if low is None or high is None:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _scratch_rows() -> list[list[str]]:
    with open(SCRATCH, newline="") as f:
        rows = {(r["strategy"], r["metric"]): r for r in csv.DictReader(f)}
    out = []
    for strategy in ("none", "oversample"):
        mel, ker = rows[(strategy, "melanoma_auc")], rows[(strategy, "keratosis_auc")]
        out.append(
            [
                f"from scratch: ResNet-18, 32 px, 12 epochs, `{strategy}`",
                _ci(*(float(mel[k]) for k in ("mean", "ci_low", "ci_high"))),
                _ci(*(float(ker[k]) for k in ("mean", "ci_low", "ci_high"))),
                mel["n_seeds"],
                "`docs/results/isic2017-cpu/results.csv`",
            ]
        )
    return out


def _sweep_row(name: str, label: str) -> list[str] | None:
    path = SWEEP / f"{name}.json"
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    s = next(iter(d["summary"].values()))
    mel, ker = s["melanoma_auc"], s["keratosis_auc"]
    minutes = s["seconds_mean"] / 60
    return [
        f"{label} ({minutes:.1f} min per run here)",
        _ci(mel["mean"], mel["ci_low"], mel["ci_high"]),
        _ci(ker["mean"], ker["ci_low"], ker["ci_high"]),
        str(mel["n"]),
        f"`docs/results/classifier-sweep/{name}.json`",
    ]


def main() -> None:
    rows = _scratch_rows()
    for name, label in (
        (
            "cached-isic128-targets",
            "cached: frozen EfficientNet-Lite0 features, 128 px, linear head",
        ),
        ("finetune-isic128-targets", "fine-tuned: EfficientNet-Lite0, 128 px, recipe"),
    ):
        row = _sweep_row(name, label)
        if row:
            rows.append(row)
    print(
        "| classifier (poster split: 1200 train / 800 test) | melanoma AUC | keratosis AUC "
        "| seeds | from |"
    )
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    for label, mel, ker in PUBLISHED:
        print(f"| published, official test set: {label} | {mel} | {ker} | - | literature |")


if __name__ == "__main__":
    main()
