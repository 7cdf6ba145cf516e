"""Do the verdict's 95 % intervals cover the truth? A simulation at the verdict's own design.

With five classifier seeds, a percentile bootstrap that resamples seeds covers less than 95 %
when the seed-to-seed spread of a difference dominates its test-image noise (five drawn seeds
show too little of the spread). :func:`coverage_study` measures that for an exported verdict:

1. **Observed**: for every cell that adds synthetic images, the ratio of the *seed* standard
   error of its mean difference from the reference (the SD of the per-seed differences over
   sqrt(S)) to its *test-image* standard error (the runs fixed, the test images resampled).
2. **A null world with the same design**: the verdict's test labels; G generators x S seeds;
   class logits = a class separation on the true class (set so that the AUCs are the
   reference's) + an image effect shared by every run + per-run noise (their proportion from the
   correlation between the reference's seeds) + a per-run shift of each class's separation (the
   run effect). A synthetic cell's run adds a generator's shift of the same SD, shared by that
   generator's runs. The reference's run shift has the variance of both together, so the cell
   and the reference have equal expected AUCs: the truth is 0. The run effect's SD is set so
   that the simulated seed-to-image ratio equals an observed one.
3. **Coverage**: in many such worlds, the share of the verdict's own intervals
   (:func:`hierarchical_differences`) and of the per-seed t-intervals that contain 0, with its
   Monte Carlo standard error.

The world is a model, stated in ``coverage.json``; it tells how the procedure behaves at this
design and at this ratio of variances, not what the real seeds' distribution is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from lesiongan.errors import LesionganError
from lesiongan.experiments.aggregate import Preds
from lesiongan.experiments.records import by_strategy, records_from_export
from lesiongan.experiments.results import adds_synthetic
from lesiongan.experiments.stats import (
    PRIMARY,
    RunKey,
    hierarchical_differences,
    image_weights,
    run_metric_rows,
)

COVERAGE = "coverage.json"
CALIBRATION_WORLDS = 24  # simulated worlds per evaluation of the seed-to-image ratio


def seed_to_image_ratio(
    reference: Mapping[int, Preds],
    other: Mapping[RunKey, Preds],
    classes: list[str],
    endpoint: str = "macro_auc",
    n_boot: int = 200,
    seed: int = 0,
) -> float | None:
    """Seed SE / test-image SE of the mean difference ``other - reference`` on ``endpoint``."""
    seeds = sorted(set(reference) & {s for _, s in other})
    gens = sorted({g for g, s in other if s in seeds})
    if len(seeds) < 2:
        return None
    _, y, _ = reference[seeds[0]]
    w = image_weights(len(y), n_boot, np.random.default_rng(seed))
    ref = {s: run_metric_rows(y, reference[s][2], w, classes)[endpoint] for s in seeds}
    diff = np.stack(
        [
            np.mean([run_metric_rows(y, other[(g, s)][2], w, classes)[endpoint] for g in gens], 0)
            - ref[s]
            for s in seeds
        ]
    )  # [S, 1 + B]: each seed's difference (mean over generators) under each image resample
    seed_se = float(np.std(diff[:, 0], ddof=1) / np.sqrt(len(seeds)))
    image_se = float(np.nanstd(diff[:, 1:].mean(axis=0), ddof=1))
    return seed_se / image_se if image_se > 0 else None


class NullWorld:
    """The simulated design (see the module doc): ``y`` test labels, ``separation`` [C],
    ``noise_sd`` (per-run noise, the image effect having SD 1), ``run_sd`` (the run effect;
    the generator effect has the same SD)."""

    def __init__(
        self,
        y: np.ndarray,
        n_classes: int,
        n_generators: int,
        n_seeds: int,
        separation: np.ndarray,
        noise_sd: float,
        run_sd: float = 0.0,
    ) -> None:
        self.y, self.n_classes = np.asarray(y), n_classes
        self.n_generators, self.n_seeds = n_generators, n_seeds
        self.separation, self.noise_sd, self.run_sd = np.asarray(separation), noise_sd, run_sd
        self.onehot = np.eye(n_classes)[self.y]

    def draw(self, rng: np.random.Generator) -> tuple[dict[int, Preds], dict[RunKey, Preds]]:
        """One world: the reference's runs ``{seed: preds}`` and the cell's ``{(g, s): preds}``."""
        n, c = self.onehot.shape
        ids = [str(i) for i in range(n)]
        base = self.onehot * self.separation + rng.standard_normal((n, c))  # shared by all runs

        def run(shift: np.ndarray) -> Preds:
            noise = self.noise_sd * rng.standard_normal((n, c))
            return ids, self.y, softmax(base + self.onehot * shift + noise, axis=1)

        ref_sd = self.run_sd * np.sqrt(2.0)  # run + generator variance: equal expected AUCs
        reference = {s: run(ref_sd * rng.standard_normal(c)) for s in range(self.n_seeds)}
        gen_shift = self.run_sd * rng.standard_normal((self.n_generators, c))
        other = {
            (f"g{g}", s): run(gen_shift[g] + self.run_sd * rng.standard_normal(c))
            for g in range(self.n_generators)
            for s in range(self.n_seeds)
        }
        return reference, other


def calibrate_separation(
    y: np.ndarray, n_classes: int, target_auc: np.ndarray, noise_sd: float, seed: int = 0
) -> np.ndarray:
    """Per-class separations whose one-vs-rest AUCs (of one run) are ``target_auc``."""
    rng = np.random.default_rng(seed)
    big = rng.choice(y, size=20_000)  # the test split's class mix, many images
    onehot = np.eye(n_classes)[big]
    shared = rng.standard_normal(onehot.shape) + noise_sd * rng.standard_normal(onehot.shape)
    ones = np.ones((1, big.size))
    names = [str(i) for i in range(n_classes)]
    sep = np.ones(n_classes)
    for _ in range(40):
        rows = run_metric_rows(big, softmax(onehot * sep + shared, axis=1), ones, names)
        aucs = np.array([rows[f"auc_{i}"][0] for i in names])
        sep = np.clip(sep + 4.0 * (target_auc - aucs), 0.0, 10.0)
    return sep


def simulated_ratio(world: NullWorld, classes: list[str], seed: int) -> float:
    """The mean seed SE over the mean image SE of the macro AUC difference, over a few worlds."""
    rng = np.random.default_rng(seed)
    ratios = []
    for i in range(CALIBRATION_WORLDS):
        ref, other = world.draw(rng)
        r = seed_to_image_ratio(ref, other, classes, n_boot=100, seed=seed + i)
        if r is not None:
            ratios.append(r)
    return float(np.mean(ratios))


def tune_world(world: NullWorld, classes: list[str], target: float, seed: int) -> None:
    """Set the world's run variability so that its seed-to-image ratio is ``target``: below
    what the per-run noise alone gives, less per-run noise (no run effect); above it, a run
    effect on the separation as well."""

    def ratio_at(noise_sd: float, run_sd: float) -> float:
        world.noise_sd, world.run_sd = noise_sd, run_sd
        return simulated_ratio(world, classes, seed)

    noise = world.noise_sd
    if ratio_at(noise, 0.0) >= target:
        lo, hi = 0.0, noise
        for _ in range(8):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ratio_at(mid, 0.0) < target else (lo, mid)
        world.noise_sd, world.run_sd = (lo + hi) / 2, 0.0
        return
    lo, hi = 0.0, 0.1
    while ratio_at(noise, hi) < target and hi < 5.0:
        lo, hi = hi, hi * 2
    for _ in range(8):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ratio_at(noise, mid) < target else (lo, mid)
    world.noise_sd, world.run_sd = noise, (lo + hi) / 2


def coverage_of(
    world: NullWorld,
    classes: list[str],
    n_sims: int,
    n_boot: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Per primary endpoint: the share of bootstrap and t-intervals that contain 0 (the truth)."""
    rng = np.random.default_rng(seed)
    hits: dict[str, dict[str, list[bool]]] = {k: {"bootstrap": [], "t": []} for k in PRIMARY}
    for i in range(n_sims):
        ref, other = world.draw(rng)
        diffs = hierarchical_differences(ref, other, classes, n_boot, seed=seed + i)
        for key in PRIMARY:
            d = diffs.get(key) or {}
            for name, lo, hi in (
                ("bootstrap", "ci_low", "ci_high"),
                ("t", "t_ci_low", "t_ci_high"),
            ):
                if d.get(lo) is not None and d.get(hi) is not None:
                    hits[key][name].append(d[lo] <= 0.0 <= d[hi])
        if progress:
            progress(i + 1)
    out: dict[str, Any] = {}
    for key, by in hits.items():
        out[key] = {}
        for name, h in by.items():
            p = float(np.mean(h)) if h else None
            se = float(np.sqrt(p * (1 - p) / len(h))) if h and p is not None else None
            out[key][name] = {"coverage": p, "mc_se": se, "n": len(h)}
    return out


def _reference_correlation(reference: Mapping[int, Preds]) -> float:
    """The mean correlation of log-probabilities between two reference seeds, over classes."""
    logp = [np.log(np.clip(p[2], 1e-6, 1.0)) for p in reference.values()]
    cors = [
        np.corrcoef(a[:, c], b[:, c])[0, 1]
        for i, a in enumerate(logp)
        for b in logp[i + 1 :]
        for c in range(a.shape[1])
    ]
    return float(np.clip(np.nanmean(cors), 0.05, 0.99))


def coverage_study(
    root: Path,
    n_sims: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The study of the module doc for an exported imbalance verdict in ``root``;
    ``progress(done, total)`` counts the simulated worlds of every scenario."""
    root = Path(root)
    results_path = root / "results.json"
    if not (root / "runs.json").is_file() or not results_path.is_file():
        raise LesionganError(f"{root}: not an exported results directory (no runs.json)")
    results = json.loads(results_path.read_text())
    if results.get("experiment") != "imbalance" or not results.get("reference"):
        raise LesionganError(
            f"{results_path}: --coverage simulates an imbalance verdict (a reference and cells "
            f"that add synthetic images), not a {results.get('experiment')} experiment"
        )
    classes, ref_name = results["classes"], results["reference"]
    groups = by_strategy(records_from_export(root))
    ref = {r.seed: r.split("test", classes) for r in groups[ref_name]}
    cells = {
        s: {(r.generator, r.seed): r.split("test", classes) for r in rs}
        for s, rs in groups.items()
        if adds_synthetic(s) and s in results.get("calls", {})
    }
    if not cells:
        raise LesionganError(f"{results_path}: no cell that adds synthetic images")
    observed = {
        s: seed_to_image_ratio(ref, p, classes, n_boot=200, seed=seed) for s, p in cells.items()
    }
    ratios = sorted(v for v in observed.values() if v is not None)
    _, y, _ = next(iter(ref.values()))
    n_gen = max(len({g for g, _ in p}) for p in cells.values())
    n_seeds = len(ref)
    ones = np.ones((1, y.size))
    ref_rows = [run_metric_rows(y, p[2], ones, classes) for p in ref.values()]
    target = np.array([np.mean([r[f"auc_{c}"][0] for r in ref_rows]) for c in classes])
    rho = _reference_correlation(ref)
    noise_sd = float(np.sqrt(1.0 / rho - 1.0))
    sep = calibrate_separation(y, len(classes), target, noise_sd, seed)
    world = NullWorld(y, len(classes), n_gen, n_seeds, sep, noise_sd)
    wanted = [
        ("median over the cells", float(np.median(ratios))),
        ("largest of the cells", ratios[-1]),
        ("twice the largest", 2 * ratios[-1]),
    ]
    scenarios = []
    for n, (name, ratio) in enumerate(wanted):
        world.noise_sd = noise_sd
        tune_world(world, classes, ratio, seed)
        reached = simulated_ratio(world, classes, seed + 1)

        def tick(i: int, before: int = n * n_sims) -> None:
            if progress:
                progress(before + i, len(wanted) * n_sims)

        scenarios.append(
            {
                "name": name,
                "target_ratio": ratio,
                "simulated_ratio": reached,
                "noise_sd": world.noise_sd,
                "run_sd": world.run_sd,
                "coverage": coverage_of(world, classes, n_sims, n_boot, seed, tick),
            }
        )
    return {
        "reference": ref_name,
        "design": {"n_generators": n_gen, "n_seeds": n_seeds, "n_test_images": int(y.size)},
        "observed_ratio": observed,
        "world": {
            "target_auc": dict(zip(classes, map(float, target), strict=True)),
            "separation": dict(zip(classes, map(float, sep), strict=True)),
            "seed_correlation": rho,
            "noise_sd_from_correlation": noise_sd,
        },
        "n_sims": n_sims,
        "n_boot": n_boot,
        "seed": seed,
        "level": 0.95,
        "scenarios": scenarios,
    }


def render_coverage_markdown(study: Mapping[str, Any]) -> str:
    """The coverage table and one sentence, as the docs quote them."""
    names = {"melanoma_auc": "melanoma", "keratosis_auc": "keratosis", "macro_auc": "macro"}
    d = study["design"]
    head = (
        "| seed SE ÷ image SE (macro AUC) | "
        + " | ".join(f"{names[k]} AUC: bootstrap | {names[k]}: t" for k in PRIMARY)
        + " |"
    )
    lines = [head, "| --- |" + " --- |" * (2 * len(PRIMARY))]
    for s in study["scenarios"]:
        cells = []
        for k in PRIMARY:
            for kind in ("bootstrap", "t"):
                c = s["coverage"][k][kind]
                cells.append("–" if c["coverage"] is None else f"{c['coverage']:.3f}")
        label = f"{s['target_ratio']:.2f}, {s['name']} (simulated {s['simulated_ratio']:.2f})"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    se = max(
        c[kind]["mc_se"] or 0.0
        for s in study["scenarios"]
        for c in s["coverage"].values()
        for kind in ("bootstrap", "t")
    )
    obs = [v for v in study["observed_ratio"].values() if v is not None]
    first = study["scenarios"][0]["coverage"]["macro_auc"]
    sentence = (
        f"Share of 95 % intervals that contain the true difference (0), in {study['n_sims']} "
        f"simulated null worlds per row with the verdict's design ({d['n_generators']} "
        f"generators × {d['n_seeds']} classifier seeds × {d['n_test_images']} test images; "
        f"Monte Carlo SE ≤ {se:.3f}). The {len(obs)} cells' seed-to-image ratios run from "
        f"{min(obs):.2f} to {max(obs):.2f}; at their median the bootstrap covers "
        f"{first['bootstrap']['coverage']:.3f} of macro AUC differences and the per-seed "
        f"t-interval {first['t']['coverage']:.3f}."
    )
    return "\n".join(lines) + "\n\n" + sentence
