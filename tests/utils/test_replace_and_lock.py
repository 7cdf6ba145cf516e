"""Issue 19, items 1, 2 and 5 at the stage owner: --force replaces only what lesiongan wrote,
one process writes a directory at a time (a stale lock frees itself), a run that raises says
so in status.json, and a full disk while saving state is one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lesiongan.errors import InUseError, LesionganError, OutputExistsError
from lesiongan.utils.outdir import (
    atomic_output_dir,
    check_replaceable,
    holds_lock,
    lock_file,
    stage_lock,
    stale_lock,
)
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import locked_stage, read_status, write_status
from lesiongan.utils.state import StateFileError, save_state


def _stage_dir(out: Path) -> Path:
    with atomic_output_dir(out) as tmp:
        (tmp / "config.yaml").write_text("seed: 0\n")
        (tmp / "images").mkdir()
        save_provenance(tmp, "test stage")
    return out


# --- --force replaces only what lesiongan wrote ------------------------------------------------


def test_a_finished_stage_records_its_entries_and_may_be_replaced(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "out")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["outputs"] == ["config.yaml", "images", "provenance.json"]
    check_replaceable(out)
    with atomic_output_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_a_directory_lesiongan_did_not_write_is_refused_naming_what_it_holds(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputExistsError) as err, atomic_output_dir(mine, force=True):
        pass
    msg = str(err.value)
    assert msg.startswith(f"{mine}: holds sub/, thesis.txt and no provenance.json or run.json")
    assert "--force replaces only lesiongan's own outputs" in msg and "\n" not in msg
    assert (mine / "thesis.txt").read_text() == "years of work"


def test_a_file_added_to_a_stage_directory_is_not_removed(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "out")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"holds notes\.txt, which the lesiongan stage"):
        check_replaceable(out)
    # lesiongan's leftovers (a temporary of a killed writer, a lock file) are not foreign
    (out / "notes.txt").unlink()
    (out / ".status.json.tmp-999").write_text("")
    (out / ".x.lock").write_text("")
    check_replaceable(out)


def test_stages_made_inside_after_the_last_record_are_lesiongans(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "exp")  # an experiment killed before it recorded its runs
    _stage_dir(out / "runs" / "none" / "seed-0")
    _stage_dir(out / "gan")
    check_replaceable(out)
    (out / "runs" / "none" / "my-plot.png").write_text("mine")
    with pytest.raises(OutputExistsError, match="holds runs/, which"):
        check_replaceable(out)


def test_an_empty_directory_may_be_replaced(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")


@pytest.mark.parametrize("where", ["cwd", "parent"])
def test_never_the_current_directory_or_a_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out = _stage_dir(tmp_path / "out")
    (out / "images" / "deeper").mkdir()
    monkeypatch.chdir(out if where == "cwd" else out / "images" / "deeper")
    with pytest.raises(OutputExistsError, match="current directory or one of its parents"):
        check_replaceable(out)
    assert (out / "config.yaml").is_file()


def test_write_status_records_entries_made_during_a_run(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "run")
    (out / "checkpoints").mkdir()
    (out / "stats.jsonl").write_text("{}\n")
    write_status(out, "running")
    outputs = json.loads((out / "provenance.json").read_text())["outputs"]
    assert {"checkpoints", "stats.jsonl", "status.json"} <= set(outputs)
    check_replaceable(out)


# --- the lock -----------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from lesiongan.utils.outdir import stage_lock
    with stage_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
    """
)


def _hold_in_another_process(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_told_who_holds_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _hold_in_another_process(out)
    try:
        with pytest.raises(InUseError) as err, stage_lock(out):
            pass
        assert str(err.value).startswith(f"{out}: in use by PID {proc.pid} since ")
        with pytest.raises(InUseError), atomic_output_dir(out):
            pass
        assert not out.exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_sigkill_frees_itself(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _hold_in_another_process(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_file(out).exists()  # the file stays, the lock went with the process
    with stage_lock(out):
        assert holds_lock(out)
    assert not holds_lock(out) and not lock_file(out).exists()


def test_a_running_status_whose_process_was_killed_reads_as_stopped(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "run")
    write_status(out, "running", kimg=3.2)
    proc = _hold_in_another_process(out)
    try:
        assert read_status(out) == {"state": "running", "kimg": 3.2}  # alive: running
        assert not stale_lock(out)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert stale_lock(out)
    status = read_status(out)
    assert status["state"] == "stopped" and status["kimg"] == 3.2
    assert "killed" in status["reason"] and "--resume" in status["reason"]
    with stage_lock(out):  # the next process: its own run is running, not stopped
        write_status(out, "running", kimg=3.2)
        assert read_status(out)["state"] == "running" and not stale_lock(out)
    lock_file(out).unlink(missing_ok=True)
    assert read_status(out)["state"] == "running"  # no lock file: nothing to tell, kept


def test_the_lock_is_reentrant_in_one_process_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    with stage_lock(out), stage_lock(out):
        assert lock_file(out).is_file()
    assert not (tmp_path / "a").exists()  # the parents it made for its lock file are gone


def test_only_rank_zero_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    proc = _hold_in_another_process(out)
    try:
        monkeypatch.setenv("RANK", "1")  # another rank of the same torchrun job
        with stage_lock(out):
            assert not holds_lock(out)
    finally:
        proc.kill()
        proc.wait()


# --- a run that raises ends as failed -------------------------------------------------------


@locked_stage("out")
def _run(out: Path, error: BaseException) -> None:
    _stage_dir(out)
    write_status(out, "running", epochs_done=2)
    raise error


@pytest.mark.parametrize(
    ("error", "state", "reason"),
    [
        (LesionganError("training diverged: lower lr"), "failed", "training diverged: lower lr"),
        (RuntimeError("boom"), "failed", "RuntimeError: boom"),
        (KeyboardInterrupt(), "stopped", "interrupted"),
    ],
)
def test_a_run_that_raises_says_why_in_its_status(
    tmp_path: Path, error: BaseException, state: str, reason: str
) -> None:
    out = tmp_path / "run"
    with pytest.raises(type(error)):
        _run(out, error)
    assert read_status(out) == {"state": state, "epochs_done": 2, "reason": reason}
    assert not holds_lock(out)


def test_a_failure_on_a_full_disk_is_still_recorded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk that made the run fail refuses a new status file; the old one is rewritten."""
    from lesiongan.utils import stage

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    @locked_stage("out")
    def run(out: Path) -> None:
        _stage_dir(out)
        write_status(out, "running", epochs_done=2)
        monkeypatch.setattr(stage, "write_text_atomic", full)  # the disk is full from now on
        raise LesionganError("ckpt.pt: cannot be written (disk full)")

    with pytest.raises(LesionganError):
        run(tmp_path / "run")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    reason = "ckpt.pt: cannot be written (disk full)"
    assert status == {"state": "failed", "epochs_done": 2, "reason": reason}


@locked_stage("out")
def _forced(out: Path) -> None:
    check_replaceable(out)  # what open_stage does first with --force


def test_a_refused_call_neither_marks_the_run_nor_adopts_the_users_files(tmp_path: Path) -> None:
    out = _stage_dir(tmp_path / "run")
    write_status(out, "running", epochs_done=2)  # a run killed earlier
    (out / "my-notes.txt").write_text("mine")  # added by the user afterwards
    for _ in range(2):  # a second --force must not find the file adopted by the first
        with pytest.raises(OutputExistsError, match=r"holds my-notes\.txt, which the lesiongan"):
            _forced(out)
    assert read_status(out) == {"state": "running", "epochs_done": 2}  # not "failed: refused"
    assert "my-notes.txt" not in json.loads((out / "provenance.json").read_text())["outputs"]


# --- state files on a full disk --------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 111424 vs 1"),
        RuntimeError("basic_ios::clear: iostream error"),  # as torch ends the file
    ],
)
def test_a_full_disk_while_saving_state_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    def full(obj, f, *a, **k):
        Path(f).write_bytes(b"half")
        raise failure

    path = tmp_path / "checkpoints" / "last.pt"
    save_state(path, "test-v1", {"x": 1})
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(StateFileError) as err:
        save_state(path, "test-v1", {"x": 2})
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot be written (") and "--resume" in msg
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # the old one, no temporary


def test_a_text_file_that_cannot_be_written_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk's write() names no file; the error names the file meant, not its temporary."""
    from lesiongan.utils.outdir import write_text_atomic

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as err:
        write_text_atomic(tmp_path / "report.html", "<html>")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_a_bug_while_saving_state_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def buggy(*args, **kwargs):
        raise TypeError("bug")

    monkeypatch.setattr(torch, "save", buggy)
    with pytest.raises(TypeError, match="bug"):
        save_state(tmp_path / "s.pt", "test-v1", {"x": 1})


def test_loading_onto_a_missing_gpu_names_the_device_not_corruption(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from lesiongan.utils.state import load_state

    save_state(tmp_path / "s.pt", "test-v1", {"x": 1})
    with pytest.raises(LesionganError, match="no CUDA GPU is available") as err:
        load_state(tmp_path / "s.pt", "test-v1", map_location="cuda")
    assert "corrupt" not in str(err.value)


def test_two_lock_attempts_never_both_win(tmp_path: Path) -> None:
    """Many processes race for one directory: at every moment at most one holds it."""
    script = textwrap.dedent(
        """
        import sys, time
        from lesiongan.errors import InUseError
        from lesiongan.utils.outdir import stage_lock
        won = 0
        for _ in range(40):
            try:
                with stage_lock(sys.argv[1]):
                    with open(sys.argv[2], "a") as f:
                        f.write(f"in {time.monotonic_ns()}\\n")
                    time.sleep(0.002)
                    with open(sys.argv[2], "a") as f:
                        f.write(f"out {time.monotonic_ns()}\\n")
                    won += 1
            except InUseError:
                pass
        print(won)
        """
    )
    log = tmp_path / "log"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "run"), str(log)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    wins = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(wins) > 0
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["in", "out"] * (len(events) // 2)  # never two "in" in a row
