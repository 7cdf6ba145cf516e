"""Typed configs: YAML + --set overrides; unknown keys and wrong types are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from lesiongan.config import Config, load_config, parse_overrides, save_config
from lesiongan.errors import ConfigError


class Schedule(Config):
    kimg: list[int] = Field(default_factory=lambda: [10, 20])
    batch_size: int = 16


class Demo(Config):
    name: str = "x"
    lr: float = 1e-3
    use_ema: bool = True
    schedule: Schedule = Field(default_factory=Schedule)


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("lr: 0.002\nschedule:\n  batch_size: 8\n")
    cfg = load_config(
        Demo, f, parse_overrides(["schedule.kimg=[1, 2, 3]", "use_ema=false", "name=run"])
    )
    assert cfg.lr == 0.002
    assert cfg.schedule.batch_size == 8
    assert cfg.schedule.kimg == [1, 2, 3]
    assert cfg.use_ema is False and cfg.name == "run"


def test_unknown_key_in_file_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("schedule:\n  batchsize: 8\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Demo, f)
    assert str(f) in str(exc.value) and "schedule.batchsize" in str(exc.value)


def test_unknown_override_and_bad_type_are_errors() -> None:
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        load_config(Demo, overrides=parse_overrides(["nope=1"]))
    with pytest.raises(ConfigError, match="lr"):
        load_config(Demo, overrides=parse_overrides(["lr=fast"]))
    with pytest.raises(ConfigError, match="lr"):
        load_config(Demo, overrides=parse_overrides(["lr.x=1"]))
    with pytest.raises(ConfigError, match="not a section"):
        load_config(Demo, overrides=parse_overrides(["lr.x=1"]), defaults={"lr": 0.1})


@pytest.mark.parametrize("item", ["novalue", "=3", "a=[1, 2"])
def test_malformed_overrides(item: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        parse_overrides([item])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(Demo, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(Demo, bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Demo, scalar)


def test_saved_config_loads_back_identically(tmp_path: Path) -> None:
    cfg = load_config(Demo, overrides={"lr": 0.5, "schedule.kimg": [4]})
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(Demo, tmp_path / "config.yaml")
    assert again == cfg
