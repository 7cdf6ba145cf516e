"""Issue 19 item 1, through the CLI of every stage that takes --force: a directory lesiongan
did not write is refused in one line naming what it holds (and kept), the current directory is
refused, and an output lesiongan wrote is replaced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lesiongan.utils.outdir import atomic_output_dir
from lesiongan.utils.provenance import save_provenance

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "gan-tiny.yaml"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A procedural source, its prepared dataset, a short GAN run and its samples."""
    from lesiongan.config import load_config
    from lesiongan.data.prepare import PrepareConfig, run_prepare
    from lesiongan.data.synth import SynthConfig, run_synth
    from lesiongan.gan.config import GanConfig
    from lesiongan.gan.run import run_training
    from lesiongan.gan.sample import SampleConfig, run_sample

    root = tmp_path_factory.mktemp("force")
    run_synth(root / "src", SynthConfig(n=48, size=32, seed=0), workers=1)
    run_prepare(root / "src", root / "ds", PrepareConfig(size=16, test_fraction=0.25), workers=1)
    sets = {"schedule.stabilize_kimg": 0.05, "schedule.fade_kimg": 0.05}
    run_training(root / "ds", root / "gan", load_config(GanConfig, TINY, sets))
    counts = {"melanoma": 4, "seborrheic_keratosis": 4, "nevus": 4}
    run_sample(root / "gan", root / "syn", SampleConfig(per_class=counts))
    exp = {
        "dataset": str(root / "ds"),
        "seeds": [0],
        "classify": {"image_size": 16, "epochs": 1, "batch_size": 8, "predict_train": False},
        "bootstrap": 100,
    }
    configs = {
        "imbalance": {**exp, "strategies": ["none"], "sample": {"synthetic": str(root / "syn")}},
        "scarcity": {**exp, "fractions": [1.0], "strategies": ["none"]},
        "generators": {
            **exp,
            "generators": [{"name": "g", "run": str(root / "gan")}],
            "budget_minutes": 0.05,
        },
    }
    for kind, data in configs.items():
        (root / f"{kind}.yaml").write_text(yaml.safe_dump(data))
    exp = root / "exp"  # what report --export reads of a finished experiment (no runs)
    exp.mkdir()
    (exp / "results.json").write_text(json.dumps({"experiment": "imbalance", "runs": {}}))
    (exp / "results.csv").write_text("strategy\n")
    (exp / "config.yaml").write_text(yaml.safe_dump(configs["imbalance"]))
    return {"root": root, "src": root / "src", "ds": root / "ds", "gan": root / "gan",
            "syn": root / "syn", "exp": exp}  # fmt: skip


GAN_SETS = ("--set", "schedule.stabilize_kimg=0.05", "--set", "schedule.fade_kimg=0.05")
# stage -> (arguments before the output, arguments after it); None: the output is positional
STAGES: dict[str, Callable[[dict[str, Path]], tuple[tuple, tuple]]] = {
    "data synth": lambda e: (("data", "synth"), ("--n", 12, "--size", 32, "--workers", 1)),
    "data prepare": lambda e: (
        ("data", "prepare", e["src"], "--out"),
        ("--size", 16, "--workers", 1),
    ),
    "gan train": lambda e: (("gan", "train", e["ds"], "--out"), ("--config", TINY, *GAN_SETS)),
    "gan sample": lambda e: (("gan", "sample", e["gan"], "--out"), ("--per-class", "nevus=2")),
    "classify train": lambda e: (
        ("classify", "train", e["ds"], "--out"),
        ("--epochs", 1, "--image-size", 16, "--set", "bootstrap=10"),
    ),
    "eval realism": lambda e: (
        ("eval", "realism", e["ds"], e["syn"], "--out"),
        ("--features", "random", "--kid-subsets", 2, "--ms-ssim-pairs", 2),
    ),
    "eval memorization": lambda e: (
        ("eval", "memorization", e["ds"], e["syn"], "--out"),
        ("--features", "random"),
    ),
    "eval hair": lambda e: (("eval", "hair", e["ds"], e["syn"], "--out"), ()),
    "experiment imbalance": lambda e: (
        ("experiment", "imbalance", e["root"] / "imbalance.yaml", "--out"),
        (),
    ),
    "experiment scarcity": lambda e: (
        ("experiment", "scarcity", e["root"] / "scarcity.yaml", "--out"),
        (),
    ),
    "experiment generators": lambda e: (
        ("experiment", "generators", e["root"] / "generators.yaml", "--out"),
        (),
    ),
    "report --export": lambda e: (("report", e["exp"], "--export"), ()),
}
PROVENANCE_STAGE = {"report --export": "experiment export"}  # where it is not the command
# the whole stage runs for the "replaced" case: the experiments' long runs are left to
# tests/experiments (their directory is opened by the same open_stage, checked below)
REPLACED = [s for s in STAGES if not s.startswith("experiment")] + ["experiment imbalance"]


def _args(env: dict[str, Path], stage: str, out: Path) -> list[object]:
    before, after = STAGES[stage](env)
    return [*before, out, *after, "--force"]


def _foreign(d: Path) -> Path:
    (d / "sub").mkdir(parents=True)
    (d / "thesis.txt").write_text("years of work")
    (d / "sub" / "notes.txt").write_text("more work")
    return d


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "━" not in ln]
    lines = [ln for ln in lines if not ln.startswith("warning: --features random")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("stage", list(STAGES))
def test_force_refuses_a_directory_lesiongan_did_not_write(
    cli, env: dict[str, Path], tmp_path: Path, stage: str
) -> None:
    mine = _foreign(tmp_path / "mine")
    code, _, err = cli(*_args(env, stage, mine))
    assert code == 1
    line = _one_line(err)
    assert f"{mine}: holds sub/, thesis.txt and no provenance.json or run.json" in line
    assert (mine / "thesis.txt").read_text() == "years of work"
    assert (mine / "sub" / "notes.txt").is_file()


@pytest.mark.parametrize("stage", list(STAGES))
def test_force_never_removes_the_current_directory(
    cli, env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    here = _stage_like(tmp_path / "here")  # even when it looks like lesiongan's own output
    monkeypatch.chdir(here)
    code, _, err = cli(*_args(env, stage, Path(".")))
    assert code == 1 and "current directory or one of its parents" in _one_line(err)
    assert (here / "config.yaml").is_file()


def _stage_like(out: Path) -> Path:
    with atomic_output_dir(out) as tmp:
        (tmp / "config.yaml").write_text("old: true\n")
        (tmp / "old-output.txt").write_text("old")
        save_provenance(tmp, "an older lesiongan stage")
    return out


@pytest.mark.parametrize("stage", REPLACED)
def test_force_replaces_an_output_lesiongan_wrote(
    cli, env: dict[str, Path], tmp_path: Path, stage: str
) -> None:
    out = _stage_like(tmp_path / "out")
    code, _, err = cli(*_args(env, stage, out))
    assert code == 0, err
    assert not (out / "old-output.txt").exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["stage"] == PROVENANCE_STAGE.get(stage, stage)
    assert "old-output.txt" not in prov["outputs"]


def test_an_added_file_keeps_a_stage_directory(cli, env: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "syn"
    base = ("gan", "sample", env["gan"], "--out", out, "--per-class", "nevus=2")
    assert cli(*base)[0] == 0
    (out / "my-notes.txt").write_text("which images I liked")
    code, _, err = cli(*base, "--seed", 1, "--force")
    assert code == 1 and "holds my-notes.txt, which the lesiongan stage" in _one_line(err)
    assert (out / "my-notes.txt").is_file() and (out / "manifest.csv").is_file()
