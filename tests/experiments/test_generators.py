"""``experiment generators``: families on equal wall clock, the curve, the audit, CAS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lesiongan.errors import ConfigError, LesionganError
from lesiongan.experiments.config import GeneratorsConfig
from lesiongan.experiments.generators import best_by_measure, curve_checkpoints
from lesiongan.experiments.generators_report import render_generators_markdown


def _config(tmp_path: Path, dataset: Path, **extra) -> Path:
    data = {
        "dataset": str(dataset),
        "generators": [
            # growth fast enough to reach full resolution within the budget on a loaded machine
            {
                "name": "pggan",
                "config": "gan-tiny",
                "set": {
                    "schedule.final_kimg": 50,
                    "schedule.stabilize_kimg": 0.02,
                    "schedule.fade_kimg": 0.02,
                },
            },
            {"name": "stylegan2", "config": "sg2-tiny", "set": {"schedule.final_kimg": 50}},
        ],
        "budget_minutes": 0.08,
        "snapshot_kimg": 0.1,
        "curve_points": 2,
        "curve_per_class": 4,
        "per_class": 6,
        "seeds": [0, 1],
        "classify": {"image_size": 16, "epochs": 1, "batch_size": 8, "predict_train": False},
        "bootstrap": 100,
        "workers": 2,
        **extra,
    }
    path = tmp_path / "gens.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_generators_head_to_head_through_the_cli(cli, tiny_dataset: Path, tmp_path: Path) -> None:
    cfg, out = _config(tmp_path, tiny_dataset), tmp_path / "gens"
    code, stdout, stderr = cli("experiment", "generators", cfg, "--out", out)
    assert code == 0, stderr
    assert "real vs real" in stdout  # the summary table
    r = json.loads((out / "results.json").read_text())
    assert set(r["generators"]) == {"pggan", "stylegan2"}
    for name, g in r["generators"].items():
        t = g["training"]
        # the wall-clock budget ended training, not the (long) kimg schedule
        assert t["stopped_by"] == "schedule.max_minutes"
        assert 0.08 <= t["minutes"] < 0.08 + 0.5
        assert t["arch"] == name and t["device"].startswith("CPU, 1 thread")
        # the curve: up to curve_points checkpoints, increasing in time, the last = final
        minutes = [p["minutes"] for p in g["curve"]]
        assert 1 <= len(minutes) <= 2 and minutes == sorted(minutes)
        assert abs(minutes[-1] - t["minutes"]) < 0.02
        assert all(p["fid"] is not None and p["fid"] >= 0 for p in g["curve"])
        # the final audit, per class too, against the real-vs-real floor
        assert g["realism"]["fid"] > r["floor"]["fid"]
        for c in r["classes"]:  # (tiny sets: k-NN measures may be undefined, FID is not)
            assert g["realism"][f"fid_{c}"] is not None and f"recall_{c}" in g["realism"]
        assert "ct_statistic" in g["memorization"]
        assert g["sample"]["counts"] == {c: 6 for c in r["classes"]}
        assert g["cas"]["cas"] >= 0 and g["cas"]["n_pairs"] == 2
        assert (out / "runs" / f"synthetic-only@{name}" / "seed-1" / "metrics.json").is_file()
    assert set(r["best"]) >= {"fid", "recall", "cas"}
    for c in r["classes"]:
        assert (out / "figures" / f"grid-{c}.png").stat().st_size > 0
    assert (out / "figures" / "curve.png").stat().st_size > 0
    md = (out / "results.md").read_text()
    assert md.strip() == render_generators_markdown(r).strip()
    assert "real vs real (floor)" in md and "| pggan (pggan" in md

    # again: every stage is reused, nothing retrains
    code, _stdout, stderr = cli("experiment", "generators", cfg, "--out", out)
    assert code == 0, stderr
    assert "gan/pggan: reused" in stderr and "trained in" not in stderr
    # another budget on the same directory: one line naming the key
    code, _, stderr = cli(
        "experiment", "generators", cfg, "--out", out, "--set", "budget_minutes=1"
    )
    assert code != 0 and "budget_minutes" in stderr and "Traceback" not in stderr


def _fake_run(tmp_path: Path, name: str = "run") -> Path:
    """A run directory with gan-tiny's config (16 px) and empty checkpoint files."""
    from lesiongan.recipes import resolve_recipe

    run = tmp_path / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(resolve_recipe("gan-tiny").read_text())
    return run


def test_curve_checkpoints_are_evenly_spaced_in_training_time(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    rows = []
    points = [(0, 0, 16), (50, 3, 8), (100, 6, 16), (200, 30, 16), (300, 60, 16), (400, 62, 16)]
    for nimg, sec, res in [*points, (500, 120, 16)]:
        (run / "checkpoints" / f"ckpt-{nimg:010d}.pt").write_bytes(b"x")
        if nimg:
            rows.append(json.dumps({"kimg": nimg / 1000, "train_sec": sec, "resolution": res}))
    (run / "stats.jsonl").write_text("\n".join(rows) + "\n")
    (run / "status.json").write_text('{"state": "done"}')
    picked = curve_checkpoints(run, 2)
    # targets 1 and 2 minutes: the checkpoints trained for 60 s and 120 s (not the 0 kimg one)
    assert [(round(k, 1), m) for _, k, m in picked] == [(0.3, 1.0), (0.5, 2.0)]
    # targets 0.5, 1, 1.5 and 2 minutes; the 8 px checkpoint (a growing PGGAN) never counts
    assert [p[1] for p in curve_checkpoints(run, 4)] == [0.2, 0.3, 0.4, 0.5]
    assert 0.05 not in [p[1] for p in curve_checkpoints(run, 40)]
    assert curve_checkpoints(run, 1)[-1][1] == 0.5


def test_a_run_that_ended_below_full_resolution_is_refused(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    (run / "checkpoints" / "ckpt-0000000100.pt").write_bytes(b"x")
    (run / "stats.jsonl").write_text('{"kimg": 0.1, "train_sec": 6, "resolution": 8}\n')
    with pytest.raises(LesionganError, match="full resolution"):
        curve_checkpoints(run, 3)


def test_a_reused_run_brings_its_own_minutes(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, "gpu-run")
    (run / "checkpoints" / "ckpt-0000092096.pt").write_bytes(b"x")  # only the last one kept
    (run / "status.json").write_text('{"state": "done", "train_minutes": 2.5}')
    [(_ck, kimg, minutes)] = curve_checkpoints(run, 5)
    assert (kimg, minutes) == (92.096, 2.5)


def test_generator_entries_are_checked(tiny_dataset: Path) -> None:
    base = {"dataset": str(tiny_dataset), "budget_minutes": 1}
    with pytest.raises(ValueError, match="exactly one of config and run"):
        GeneratorsConfig.model_validate({**base, "generators": [{"name": "a"}]})
    with pytest.raises(ValueError, match="distinct"):
        GeneratorsConfig.model_validate(
            {**base, "generators": [{"name": "a", "config": "x"}, {"name": "a", "config": "y"}]}
        )
    with pytest.raises(ValueError, match="set applies to config"):
        GeneratorsConfig.model_validate(
            {**base, "generators": [{"name": "a", "run": "r", "set": {"seed": 1}}]}
        )


def test_a_bad_recipe_key_fails_before_anything_is_written(cli, tiny_dataset, tmp_path) -> None:
    cfg = _config(tmp_path, tiny_dataset)
    data = yaml.safe_load(cfg.read_text())
    data["generators"][0]["set"] = {"schedule.no_such_key": 1}
    cfg.write_text(yaml.safe_dump(data))
    code, _, stderr = cli("experiment", "generators", cfg, "--out", tmp_path / "g")
    assert code != 0 and "no_such_key" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "g").exists()


def test_best_by_measure_picks_the_right_direction() -> None:
    gens = {
        "a": {"realism": {"fid": 10.0, "recall": 0.2}, "cas": {"cas": 0.5}},
        "b": {"realism": {"fid": 20.0, "recall": 0.4}, "cas": {"cas": 0.5}},
    }
    best = best_by_measure(gens)
    assert best["fid"] == "a" and best["recall"] == "b"
    assert best["cas"] is None  # a tie names nobody
    assert "ms_ssim" not in best  # no better direction


def test_config_errors_are_config_errors(tmp_path: Path) -> None:
    from lesiongan.config import load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: x\ngenerators: []\nbudget_minutes: 1\n")
    with pytest.raises(ConfigError, match="generators"):
        load_config(GeneratorsConfig, bad)
