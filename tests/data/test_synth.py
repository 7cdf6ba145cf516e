"""``data synth``: ISIC 2017 layout, class proportions, determinism, readable by the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import tree_state
from lesiongan.data.readers import read_source
from lesiongan.data.synth import SynthConfig, compute_class_counts, run_synth


def test_class_counts_follow_isic2017() -> None:
    assert compute_class_counts(2000) == {
        "melanoma": 374,
        "seborrheic_keratosis": 254,
        "nevus": 1372,
    }
    counts = compute_class_counts(300)
    assert sum(counts.values()) == 300
    assert counts["nevus"] / 300 == pytest.approx(0.686, abs=0.01)
    assert compute_class_counts(4500)["melanoma"] == round(4500 * 0.187)
    assert min(compute_class_counts(3).values()) == 1


def test_synth_is_deterministic_and_independent_of_workers(tmp_path: Path) -> None:
    run_synth(tmp_path / "a", SynthConfig(n=12, size=32, seed=3), workers=1)
    run_synth(tmp_path / "b", SynthConfig(n=12, size=32, seed=3), workers=2)
    run_synth(tmp_path / "c", SynthConfig(n=12, size=32, seed=4), workers=1)
    a, b, c = (tree_state(tmp_path / x / "ISIC-2017_Training_Data") for x in "abc")
    assert a == b
    assert a != c


def test_synth_output_reads_as_isic2017_with_attributes(tmp_path: Path) -> None:
    result = run_synth(tmp_path / "s", SynthConfig(n=30, size=32, seed=0), workers=1)
    ds = read_source(tmp_path / "s")
    assert ds.format == "isic2017" and ds.problems == []
    assert ds.counts() == {"train": result.counts}
    attrs = (tmp_path / "s" / "procedural_attributes.csv").read_text().splitlines()
    assert (
        attrs[0].startswith("image_id,label,") and "hair_fraction" in attrs[0] and len(attrs) == 31
    )
    info = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert info["n"] == 30 and info["seed"] == 0


def test_cli_synth_inspect_and_existing_output(cli, tmp_path: Path) -> None:
    out = tmp_path / "s"
    code, stdout, err = cli("data", "synth", out, "--n", 20, "--size", 40, "--workers", 1)
    assert code == 0, err
    assert "wrote 20 images" in stdout
    code, stdout, _ = cli("data", "inspect", out, "--size", 40, "--workers", 1)
    assert code == 0 and "width 53-53 px" in stdout
    code, _, err = cli("data", "synth", out, "--n", 20)
    assert code == 1 and "size (saved 40, now 256)" in err and "--force" in err
    code, stdout, err = cli("data", "synth", out, "--n", 20, "--size", 40, "--workers", 1)
    assert code == 0 and "already finished with this config; nothing to do" in stdout, err
    code, _, err = cli("data", "synth", tmp_path / "t", "--n", 1)
    assert code == 1 and "n" in err and "Traceback" not in err
