"""``experiment imbalance``: caching, resume, aggregation, and a report showing the numbers."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.config import load_config
from lesiongan.errors import ConfigError, OutputExistsError
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.imbalance import run_imbalance

MINORITY = {"melanoma": 8, "seborrheic_keratosis": 8}


@pytest.fixture(scope="module")
def synthetic(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dir(tmp_path_factory.mktemp("exp") / "syn", tiny_dataset, MINORITY)


def _cfg(dataset: Path, synthetic: Path, **extra) -> ImbalanceConfig:
    data = {
        "dataset": str(dataset),
        "strategies": ["none", "synthetic-balance", "soft-label"],
        "seeds": [0, 1],
        "classify": {"image_size": 16, "epochs": 1, "batch_size": 8},
        "bootstrap": 100,
        "sample": {"synthetic": str(synthetic)},
        **extra,
    }
    return ImbalanceConfig.model_validate(data)


def test_experiment_report_numbers_equal_results_json(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    events: list[tuple] = []
    results = run_imbalance(_cfg(tiny_dataset, synthetic), out, on_cell=lambda *a: events.append(a))
    assert len(events) == 6 and {e[1] for e in events} == {"trained"}
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    summary = on_disk["summary"]
    # seed intervals are over the per-run metrics.json values
    for strategy in ("none", "soft-label"):
        values = [
            on_disk["runs"][f"{strategy}/seed-{s}"]["metrics"]["balanced_accuracy"] for s in (0, 1)
        ]
        assert summary[strategy]["balanced_accuracy"]["values"] == values
    assert set(on_disk["paired"]) == {"synthetic-balance", "soft-label"}
    html = (out / "report.html").read_text()
    cells = re.findall(
        r'data-key="balanced_accuracy">([0-9.]+)<br><span class="ci">([0-9.–\- ]+)</span>', html
    )
    assert len(cells) == 3
    for (shown, ci), strategy in zip(cells, on_disk["strategies"]):
        m = summary[strategy]["balanced_accuracy"]
        assert shown == f"{m['mean']:.3f}"
        assert ci.split("–")[0].strip() == f"{m['ci_low']:.3f}"
    assert html.count("data:image/png;base64,") >= 5 and "http" not in html.split("<pre>")[0]
    assert 'id="samples"' in html
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("strategy,metric,mean,ci_low,ci_high")
    assert any(line.startswith("soft-label,balanced_accuracy,") for line in csv_lines)
    assert (out / "figures" / "metrics.png").is_file()


def test_rerun_skips_finished_cells_and_resumes_interrupted_ones(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    cfg = _cfg(tiny_dataset, synthetic, strategies=["none", "oversample"], seeds=[0])
    first = run_imbalance(cfg, out)
    status = out / "runs" / "oversample" / "seed-0" / "status.json"
    (out / "runs" / "oversample" / "seed-0" / "metrics.json").unlink()
    status.write_text(json.dumps({"state": "stopped"}))
    events: list[tuple] = []
    second = run_imbalance(cfg, out, on_cell=lambda *a: events.append(a))
    assert sorted((e[0], e[1]) for e in events) == [
        ("none/seed-0", "reused"),
        ("oversample/seed-0", "trained"),
    ]
    assert second["summary"] == first["summary"]  # resumed to the same numbers
    changed = _cfg(tiny_dataset, synthetic, strategies=["none"], seeds=[0])
    with pytest.raises(OutputExistsError, match="other settings"):
        run_imbalance(changed, out)


def test_a_finished_experiment_grows_seeds_and_strategies(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path
) -> None:
    """More seeds or strategies on a finished experiment: only the new cells run, every table is
    computed over all of them, and config.yaml records the grown lists; a list that loses an
    entry is still refused (its cells would linger unreported)."""
    out = tmp_path / "exp"
    run_imbalance(_cfg(tiny_dataset, synthetic, strategies=["none"], seeds=[0]), out)
    grown = _cfg(tiny_dataset, synthetic, strategies=["none", "oversample"], seeds=[0, 1])
    events: list[tuple] = []
    results = run_imbalance(grown, out, on_cell=lambda *a: events.append(a))
    assert sorted((e[0], e[1]) for e in events) == [
        ("none/seed-0", "reused"),
        ("none/seed-1", "trained"),
        ("oversample/seed-0", "trained"),
        ("oversample/seed-1", "trained"),
    ]
    assert results["summary"]["oversample"]["balanced_accuracy"]["n"] == 2
    assert len(results["summary"]["none"]["balanced_accuracy"]["values"]) == 2
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["seeds"] == [0, 1] and saved["strategies"] == ["none", "oversample"]
    with pytest.raises(OutputExistsError, match="seeds"):
        run_imbalance(
            _cfg(tiny_dataset, synthetic, strategies=["none", "oversample"], seeds=[1]), out
        )


def test_what_counts_as_grown() -> None:
    from lesiongan.experiments.kinds import grown_keys

    old = {"seeds": [0, 1], "fractions": [0.1], "gan_runs": {"0.1": ["a"]}, "strategies": ["x"]}
    new = {"seeds": [1, 0, 2], "fractions": [0.1], "gan_runs": {"0.1": ["a"], "0.5": ["b"]}}
    assert grown_keys(old, {**new, "strategies": ["x"]}) == ["seeds", "gan_runs"]
    assert grown_keys(old, {**new, "strategies": ["y"]}) == ["seeds", "gan_runs"]  # y: refused
    assert grown_keys(old, {**old, "gan_runs": {"0.1": ["b"], "0.5": ["c"]}}) == []  # changed
    assert grown_keys(old, {**old, "seeds": [0]}) == []  # shrunk


def test_config_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: x\nstrategies: [none, magic]\n")
    with pytest.raises(ConfigError, match="unknown strategy 'magic'"):
        load_config(ImbalanceConfig, bad)
    bad.write_text("dataset: x\nclassify: {seed: 3}\n")
    with pytest.raises(ConfigError, match="set per run"):
        load_config(ImbalanceConfig, bad)
    bad.write_text("dataset: x\nclassify: {epochz: 3}\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(ImbalanceConfig, bad)


def test_cli_experiment_and_report(
    tiny_dataset: Path, synthetic: Path, tmp_path: Path, cli
) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "strategies: [none, synthetic-balance]\nseeds: [0]\n"
        "classify: {image_size: 16, epochs: 1, batch_size: 8}\nbootstrap: 100\n"
    )
    out = tmp_path / "exp"
    code, stdout, err = cli(
        "experiment",
        "imbalance",
        cfg,
        "--out",
        out,
        "--set",
        f"dataset={tiny_dataset}",
        "--set",
        f"sample.synthetic={synthetic}",
    )
    assert code == 0, err
    assert "report:" in stdout and "synthetic-balance" in stdout and "[1/2]" in err
    (out / "report.html").unlink()
    code, stdout, _ = cli("report", out)
    assert code == 0 and (out / "report.html").is_file()
    code, _, err = cli("report", tmp_path)
    assert code == 1 and "results.json: missing" in err
