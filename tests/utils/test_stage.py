"""The stage-directory owner: new / resume / done / refused, state files, leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from pydantic import Field

from lesiongan.config import Config, save_config
from lesiongan.errors import LesionganError, OutputExistsError
from lesiongan.utils.outdir import atomic_output_dir
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import (
    DONE,
    NEW,
    RESUME,
    ConfigChangedError,
    config_diff,
    open_stage,
    read_status,
    rewrite_config,
    write_status,
)
from lesiongan.utils.state import StateFileError, load_state, save_state


class Inner(Config):
    lr: float = 1e-3
    steps: int = 10


class StageCfg(Config):
    seed: int = 0
    name: str = "a"
    inner: Inner = Field(default_factory=Inner)


class StageCfgV2(StageCfg):
    added_later: int = 7  # a key a newer version added, with its default


def _make(out: Path, cfg: Config, state: str | None = None) -> None:
    with atomic_output_dir(out) as tmp:
        save_config(cfg, tmp / "config.yaml")
        save_provenance(tmp, "test stage")
    if state:
        write_status(out, state)


def test_new_done_and_changed_config(tmp_path: Path) -> None:
    out = tmp_path / "stage"
    assert open_stage(out, StageCfg()).state == NEW
    _make(out, StageCfg())
    assert open_stage(out, StageCfg()).state == DONE  # atomic stage: existing = finished
    with pytest.raises(ConfigChangedError) as err:
        open_stage(out, StageCfg(seed=3, inner=Inner(lr=0.5)))
    msg = str(err.value)
    assert "inner.lr (saved 0.001, now 0.5)" in msg and "seed (saved 0, now 3)" in msg
    assert "--force" in msg and "\n" not in msg
    assert open_stage(out, StageCfg(seed=3), force=True).state == NEW


def test_keys_added_with_defaults_do_not_count_as_a_change(tmp_path: Path) -> None:
    out = tmp_path / "stage"
    _make(out, StageCfg())  # written before the key existed
    assert open_stage(out, StageCfgV2()).state == DONE
    with pytest.raises(ConfigChangedError, match="added_later"):
        open_stage(out, StageCfgV2(added_later=8))


def test_resumable_stage_resume_done_and_may_change(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _make(out, StageCfg(), state="running")
    assert open_stage(out, StageCfg(), resumable=True).state == RESUME
    changed = StageCfg(inner=Inner(steps=20))
    with pytest.raises(ConfigChangedError, match=r"inner\.steps \(saved 10, now 20\)"):
        open_stage(out, changed, resumable=True)
    stage = open_stage(out, changed, resumable=True, may_change=["inner.steps"])
    assert stage.state == RESUME and stage.changed == ["inner.steps"]
    stage = open_stage(out, changed, resumable=True, may_change=["inner"])  # a parent key
    assert stage.changed == ["inner.steps"]
    rewrite_config(out, changed)
    assert yaml.safe_load((out / "config.yaml").read_text())["inner"]["steps"] == 20
    write_status(out, DONE, epochs=3)
    assert read_status(out) == {"state": "done", "epochs": 3}
    assert open_stage(out, changed, resumable=True, done_files=["metrics.json"]).state == RESUME
    (out / "metrics.json").write_text("{}")
    assert open_stage(out, changed, resumable=True, done_files=["metrics.json"]).state == DONE
    # a finished run whose schedule is extended on purpose continues
    longer = StageCfg(inner=Inner(steps=30))
    assert open_stage(out, longer, resumable=True, may_change=["inner.steps"]).state == RESUME


def test_refusals_are_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(LesionganError, match="overlaps the input"):
        open_stage(src / "out", StageCfg(), [src], force=True)
    with pytest.raises(LesionganError, match="overlaps the input"):
        open_stage(tmp_path, StageCfg(), [src], force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        open_stage(tmp_path / "file", StageCfg())
    (tmp_path / "stranger").mkdir()
    with pytest.raises(OutputExistsError, match=r"no readable config\.yaml"):
        open_stage(tmp_path / "stranger", StageCfg())
    (tmp_path / "stranger" / "config.yaml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(OutputExistsError, match=r"no readable config\.yaml"):
        open_stage(tmp_path / "stranger", StageCfg())


def test_leftover_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "stage"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".stage.tmp-{dead_pid}-abcd1234"
    stale.mkdir()
    (stale / "half.png").write_bytes(b"x")
    live = tmp_path / f".stage.tmp-{os.getpid()}-live0000"  # a writer that is still running
    live.mkdir()
    old = tmp_path / ".stage.old-deadbeef"
    old.mkdir()
    assert open_stage(out, StageCfg()).state == NEW
    assert not stale.exists() and not old.exists() and live.exists()
    _make(out, StageCfg())
    assert open_stage(out, StageCfg()).state == DONE


def test_state_files_are_self_describing_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "last.pt"
    save_state(path, "fmt-a", {"w": torch.ones(2)}, StageCfg(seed=4))
    state = load_state(path, "fmt-a")
    assert state["format"] == "fmt-a" and state["config"]["seed"] == 4
    assert torch.equal(state["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left
    with pytest.raises(StateFileError, match="not a fmt-b file"):
        load_state(path, "fmt-b")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(StateFileError, match="corrupt or truncated"):
        load_state(path, "fmt-a")
    with pytest.raises(StateFileError, match="no such file"):
        load_state(tmp_path / "none.pt", "fmt-a")


def test_config_diff_names_nested_keys() -> None:
    a = {"x": 1, "n": {"a": 1, "b": [1, 2]}, "gone": 1}
    b = {"x": 1, "n": {"a": 2, "b": [1, 2]}, "new": 2}
    assert config_diff(a, b) == ["gone", "n.a", "new"]
