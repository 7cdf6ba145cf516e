"""The preamble every stage runs (:func:`begin_stage`): the decision, the --resume refusals,
and the atomic write that adds config.yaml and provenance.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lesiongan.config import Config
from lesiongan.errors import DataError, LesionganError, OutputExistsError
from lesiongan.utils.stage import DONE, NEW, RESUME, begin_file_stage, begin_stage


class Cfg(Config):
    seed: int = 0


def _write(out: Path, cfg: Config, **kw) -> None:
    stage = begin_stage(out, cfg, name="test stage", **kw)
    assert stage.is_new
    with stage.write() as tmp:
        (tmp / "result.txt").write_text("made")
        stage.provenance = {"source": "here"}


def test_write_adds_config_and_provenance_then_an_equal_run_is_reused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, Cfg(seed=3))
    assert yaml.safe_load((out / "config.yaml").read_text()) == {"seed": 3}
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["stage"] == "test stage" and prov["inputs"] == {"source": "here"}
    assert set(prov["outputs"]) >= {"config.yaml", "result.txt"}
    assert begin_stage(out, Cfg(seed=3), name="test stage").state == DONE
    with pytest.raises(OutputExistsError, match=r"seed \(saved 3, now 4\)"):
        begin_stage(out, Cfg(seed=4), name="test stage")
    _write(out, Cfg(seed=4), force=True)  # replaced once the new output is complete
    assert yaml.safe_load((out / "config.yaml").read_text()) == {"seed": 4}


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stage = begin_stage(out, Cfg(), name="test stage")
    with pytest.raises(RuntimeError), stage.write() as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_without_reuse_an_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, Cfg())
    with pytest.raises(OutputExistsError, match="already exists"):
        begin_stage(out, None, name="live", reuse=False)  # even with the same config
    assert begin_stage(out, None, name="live", reuse=False, force=True).state == NEW


def test_resume_refusals_and_the_input_check(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(LesionganError, match="nothing to resume"):
        begin_stage(out, Cfg(), name="t", resumable=True, resume=True)
    _write(out, Cfg(), resumable=True)  # no status "done": an unfinished run
    with pytest.raises(OutputExistsError, match=r"unfinished run.*--resume"):
        begin_stage(out, Cfg(), name="t", resumable=True, resume=False)
    checked = []
    stage = begin_stage(out, Cfg(), name="t", resumable=True, resume=None, check=checked.append)
    assert stage.state == RESUME and checked == [out]
    with pytest.raises(DataError, match="other data"):
        begin_stage(out, Cfg(), name="t", resumable=True, resume=True, check=_other_data)


def _other_data(out: Path) -> None:
    raise DataError(f"{out}: was made from other data")


def test_a_one_file_output(tmp_path: Path) -> None:
    path, inputs = tmp_path / "study.db", [tmp_path / "in"]
    assert begin_file_stage(path, inputs, what="db", option="--db", check_ours=_other_data).is_new
    path.write_text("x")
    with pytest.raises(OutputExistsError, match="already exists"):
        begin_file_stage(path, inputs, what="db", option="--db", check_ours=_other_data)
    with pytest.raises(DataError, match="other data"):  # --force asks whose the file is
        begin_file_stage(path, inputs, force=True, what="db", option="--db", check_ours=_other_data)
    with pytest.raises(DataError, match="must not be written into the input"):
        begin_file_stage(inputs[0] / "s.db", inputs, what="db", option="--db", check_ours=print)
