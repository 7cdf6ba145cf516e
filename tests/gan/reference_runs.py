"""Tiny PGGAN and StyleGAN2 runs whose weights and samples pin the training behaviour.

``data/reference_runs.json`` was written by this module with the code before the generator-family
registry (issue 21); ``test_reference_runs.py`` checks that today's code trains and samples the
same numbers. Each case trains a few steps through every piece of the loop: growth and fade-in,
both loss kinds, lazy R1, path length regularization, ADA updates, transitional conditioning.

    PYTHONPATH=src python tests/gan/reference_runs.py OUT.json [REFERENCE.json]

writes the digests (with exact SHA-256s of every tensor and image) and, given a reference,
says whether they match it bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("data") / "reference_runs.json"
TICKS = {
    "log.tick_kimg": 0.032,
    "log.snapshot_ticks": 1,
    "augment.p": 0.3,
    "augment.ada_interval": 2,
}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "pggan-wgan-gp": (
        "gan-tiny.yaml",
        {"schedule.stabilize_kimg": 0.032, "schedule.fade_kimg": 0.032, **TICKS},
    ),
    "pggan-logistic-r1": (
        "gan-tiny.yaml",
        {
            "schedule.stabilize_kimg": 0.032,
            "schedule.fade_kimg": 0.032,
            "loss.kind": "logistic-r1",
            "loss.r1_interval": 2,
            **TICKS,
        },
    ),
    "stylegan2": (
        "sg2-tiny.yaml",
        {
            "schedule.final_kimg": 0.096,
            "loss.pl_weight": 2.0,
            "loss.pl_interval": 2,
            "conditioning.transition_kimg": [0.016, 0.064],
            **TICKS,
        },
    ),
}
SEEDS = list(range(6))
LABELS = [0, 1, 2, 0, 1, 2]


def make_dataset(root: Path) -> Path:
    """The GAN tests' tiny dataset (tests/conftest.py): 48 procedural images at 16 px."""
    from lesiongan.data.prepare import PrepareConfig, run_prepare
    from lesiongan.data.synth import SynthConfig, run_synth

    run_synth(root / "src", SynthConfig(n=48, size=32, seed=0), workers=1)
    run_prepare(root / "src", root / "ds", PrepareConfig(size=16, test_fraction=0.25), workers=1)
    return root / "ds"


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    h = hashlib.sha256()
    total = squares = 0.0
    for t in state.values():
        x = t.detach().cpu()
        h.update(x.numpy().tobytes())
        total += float(x.double().sum())
        squares += float(x.double().square().sum())
    return {"sum": total, "sum_sq": squares, "sha256": h.hexdigest()}


def digest_case(dataset: Path, out: Path, recipe: str, overrides: dict[str, Any]) -> dict:
    from lesiongan.config import load_config
    from lesiongan.gan.checkpoint import latest_checkpoint, load_checkpoint
    from lesiongan.gan.config import GanConfig
    from lesiongan.gan.inference import generate_uint8, load_gan, score_images, uint8_to_input
    from lesiongan.gan.run import run_training

    cfg = load_config(GanConfig, ROOT / "configs" / recipe, overrides)
    run_training(dataset, out, cfg)
    state = load_checkpoint(latest_checkpoint(out))
    result: dict[str, Any] = {"cur_nimg": state["cur_nimg"], "p": float(state["augment"]["p"])}
    for key in ("G", "D", "G_ema"):
        result[key] = _tensors(state[key])
    gan = load_gan(out)
    pixels = generate_uint8(gan, SEEDS, LABELS)
    scores = score_images(gan, uint8_to_input(pixels, gan.device), LABELS)
    result["samples"] = {
        "sum": int(pixels.astype(np.int64).sum()),
        "sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
    }
    result["d_scores"] = [float(s) for s in scores]
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    result["last_tick"] = {
        k: v for k, v in stats[-1].items() if k.startswith(("loss", "reg", "D_")) or k == "r_t"
    }
    return result


def digest_all(work: Path) -> dict[str, dict]:
    dataset = make_dataset(work / "data")
    return {
        name: digest_case(dataset, work / name, recipe, overrides)
        for name, (recipe, overrides) in CASES.items()
    }


def exact_differences(a: dict, b: dict, where: str = "") -> list[str]:
    """Every leaf where two digests differ (floats and hashes compared exactly)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += exact_differences(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        return out
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        digests = digest_all(Path(tmp))
    Path(sys.argv[1]).write_text(json.dumps(digests, indent=1) + "\n")
    if len(sys.argv) > 2:
        diff = exact_differences(json.loads(Path(sys.argv[2]).read_text()), digests)
        print("bit-identical to the reference" if not diff else "\n".join(diff))
