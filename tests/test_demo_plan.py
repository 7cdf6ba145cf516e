"""The demo's plan runs every strategy of the method on every synthetic set, quick or not
(nothing is trained here: the plan object and the experiment's job list only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiongan.experiments.imbalance import plan_imbalance
from lesiongan.workflows.demo import build_demo_plan

EVERY_STRATEGY = ["none", "oversample", "class-weight", "synthetic-balance", "cased", "soft-label"]
WITH_SYNTHETIC = ["synthetic-balance", "cased", "soft-label", "synthetic-only"]
VARIANTS = ["unselected", "d-score", "classifier"]


@pytest.mark.parametrize("quick", [False, True])
def test_the_demo_plan_has_every_strategy_on_every_set(
    quick: bool, tiny_dataset: Path, tmp_path: Path
) -> None:
    plan = build_demo_plan(tmp_path / "demo", quick=quick)
    exp = plan.experiment
    assert exp.strategies == EVERY_STRATEGY
    assert [v.name for v in exp.variants] == VARIANTS
    assert [v.select for v in exp.variants] == ["none", "d-score", "classifier"]
    assert all(v.strategies is None for v in exp.variants)  # each set gets every strategy
    assert exp.cas and exp.audit
    # the cheap classifier: a head on cached frozen features (sizes shrink, not methods)
    clf = exp.classify_config("cased", 0)
    assert clf.mode == "cached" and clf.feature_views == 2 and clf.tta_views == 2
    assert clf.strategy == "cased" and exp.classify_config("soft-label", 0).strategy == (
        "synthetic-balance+soft-label"
    )
    assert plan.audit_px == exp.audit_size and plan.audit_px < 224
    cfg = exp.model_copy(update={"dataset": str(tiny_dataset)})
    realism = [j.task.config for j in plan_imbalance(cfg, plan.root).jobs if j.stage == "audit"]
    assert {(r.imagenet_size, r.fid_bootstrap) for r in realism} == {
        (exp.audit_size, 0 if quick else 10)
    }
    # the experiment's jobs: every real-only cell, and every synthetic cell on every set
    jobs = plan_imbalance(cfg, plan.root).jobs
    keys = {j.key for j in jobs}
    for seed in exp.seeds:
        for s in EVERY_STRATEGY[:3]:
            assert f"{s}/seed-{seed}" in keys
        for v in VARIANTS:
            for s in WITH_SYNTHETIC:
                assert f"{s}@{v}/seed-{seed}" in keys, (s, v)
    assert {f"audit/{v}" for v in VARIANTS} <= keys and {f"sample/{v}" for v in VARIANTS} <= keys
    n_cells = sum(j.stage == "classify" for j in jobs)
    assert n_cells == len(exp.seeds) * (3 + len(VARIANTS) * len(WITH_SYNTHETIC))


def test_quick_shrinks_sizes_only() -> None:
    full, quick = build_demo_plan(Path("d")), build_demo_plan(Path("q"), quick=True)
    assert quick.experiment.strategies == full.experiment.strategies
    assert quick.experiment.variants == full.experiment.variants
    assert quick.synth.n < full.synth.n and len(quick.experiment.seeds) < 3
    assert quick.structures_max_images < full.structures_max_images
