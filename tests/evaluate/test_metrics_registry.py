"""The metric registry: one list of keys, directions and functions that every consumer reads."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.errors import LesionganError
from lesiongan.evaluate import metrics as registry
from lesiongan.evaluate.metrics import METRICS, Key, Pair, check_comparable, register_metric
from lesiongan.evaluate.run_realism import compute_pair


def _pair(seed: int = 0, n: int = 40, shift: float = 0.0) -> Pair:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(60, 6)).astype(np.float32)
    cmp = (rng.normal(size=(n, 6)) + shift).astype(np.float32)
    px = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    return Pair(ref, cmp, px, px[:n], 0, {"fid_bootstrap": 20, "kid_subsets": 5})


def test_every_registered_realism_key_is_computed_and_has_a_direction_entry() -> None:
    out = compute_pair(_pair())
    for metric in registry.realism_metrics():
        for key in metric.keys:
            assert key.name in out, f"{metric.name} did not write {key.name}"
    assert registry.higher_is_better("fid") is False
    assert registry.higher_is_better("recall") is True
    assert registry.higher_is_better("ms_ssim") is None  # near the floor is right
    assert registry.label("kid_mean") == "KID"
    with pytest.raises(KeyError):
        registry.key("no_such_key")


def test_directions_read_the_right_way() -> None:
    """A shifted set is worse than an unshifted one in the direction the registry says."""
    near, far = compute_pair(_pair(0)), compute_pair(_pair(0, shift=3.0))
    for name in ("fid", "kid_mean", "precision", "recall", "density", "coverage"):
        better = registry.higher_is_better(name)
        assert (near[name] > far[name]) == better, name


def test_a_registered_metric_reaches_every_pair() -> None:
    @register_metric("mean_gap", "realism", (Key("mean_gap", "mean gap", False, 2),))
    def _gap(p: Pair) -> dict[str, float]:
        return {"mean_gap": float(np.abs(p.ref.mean(0) - p.cmp.mean(0)).sum())}

    try:
        assert compute_pair(_pair())["mean_gap"] >= 0
        assert "mean_gap" in registry.keys("realism")
        with pytest.raises(ValueError, match="registered twice"):
            register_metric("mean_gap", "realism", ())(None)
    finally:
        del METRICS["mean_gap"]


def test_the_consumers_read_their_keys_from_the_registry() -> None:
    from lesiongan.experiments import generators_audit, report, verdict
    from lesiongan.experiments.results import REALISM_KEYS

    table = registry.keys_in("table")
    assert table == ("fid", "kid_mean", "precision", "recall", "density", "coverage", "ms_ssim")
    assert table == generators_audit.REALISM
    assert [k for k, _ in report.VARIANT_REALISM] == list(table)
    assert [k for k, _ in verdict.REALISM_COLUMNS] == list(registry.keys_in("verdict"))
    assert all(k in REALISM_KEYS and f"{k}_floor" in REALISM_KEYS for k in table)
    assert set(registry.keys("realism")) <= set(report.AUDIT_KEYS["realism"])
    assert report.AUDIT_KEYS["memorization"][2:] == registry.keys("memorization")
    assert registry.keys_in("table", "memorization") == ("ct_statistic", "n_near_duplicates")


def test_rows_of_different_n_are_refused_in_one_line() -> None:
    check_comparable({"a": {"n": 300}, "b": {"n": 300}})
    check_comparable({"a": {"fid": 1.0}, "b": {"fid": 2.0}})  # audits older than equal n
    for rows in (
        {"a": {"n": 300}, "b": {"n": 751}},
        {"a": {"n": 300}, "b": {"fid": 2.0}},
        {"a": {"n": 4, "classes": ["x", "y"], "n_x": 1, "n_y": 3},
         "b": {"n": 4, "classes": ["x", "y"], "n_x": 2, "n_y": 2}},
    ):  # fmt: skip
        with pytest.raises(LesionganError) as exc:
            check_comparable(rows)
        assert "\n" not in str(exc.value) and "different numbers of" in str(exc.value)


def test_with_floor_and_classes_names_every_variant() -> None:
    assert registry.with_floor_and_classes(["fid"], ["a"]) == [
        "fid", "fid_floor", "fid_a", "fid_a_floor"]  # fmt: skip
