"""Issue 19 item 5 and 7: every traceback of the probe is one line naming the option or the file,
with stated bounds; a run that fails ends as ``failed`` with its reason (never ``running``), and
resumes once the cause is gone; one-liners name the real cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from lesiongan.errors import DataError, LesionganError
from lesiongan.gan.sample import SampleConfig
from lesiongan.gan.selection import check_classifier_leakage
from lesiongan.utils.stage import read_status

SEED_BOUND = "a seed is a whole number from 0 to 4294967295 (< 2**32)"
CLF = ("--epochs", 1, "--image-size", 16, "--set", "bootstrap=10", "--set", "batch_size=8")


def _one_line(err: str) -> str:
    # progress lines (a bar, or a training run's status line) may come before the error
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "━" not in ln]
    assert "Traceback" not in err and lines, err
    errors = [ln for ln in lines if ln.startswith("lesiongan: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    lines = errors
    return lines[0].removeprefix("lesiongan: error: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("data", "synth", "{tmp}/s", "--seed", -1), f"--seed: {SEED_BOUND}"),
        (("data", "synth", "{tmp}/s", "--n", 10**9), "--n: Input should be less than or equal"),
        (("data", "synth", "{tmp}/s", "--size", 3), "--size: Input should be greater than or"),
        (("data", "prepare", "{tmp}", "--out", "{tmp}/p", "--seed", -1), f"--seed: {SEED_BOUND}"),
        (("classify", "train", "{ds}", "--out", "{tmp}/c", "--seed", -1), f"--seed: {SEED_BOUND}"),
        (
            ("classify", "train", "{ds}", "--out", "{tmp}/c", "--image-size", 100_000),
            "--image-size: Input should be less than or equal to 1024",
        ),
        (
            ("classify", "train", "{ds}", "--out", "{tmp}/c", "--set", "lr=.inf"),
            "--set: lr: Input should be a finite number",
        ),
        (("gan", "train", "{ds}", "--out", "{tmp}/g", "--set", f"seed={2**64}"), SEED_BOUND),
        (
            ("gan", "sample", "{tmp}/gan", "--out", "{tmp}/s", "--per-class", "nevus=2", "--seed",
             2**64),
            f"--seed: {SEED_BOUND}",
        ),
        (
            ("gan", "sample", "{tmp}/gan", "--out", "{tmp}/s", "--per-class", "nevus=2",
             "--select", "d-score", "--keep", 0.5, "--classifier", "{tmp}"),
            "classifier is used only by select=classifier or realism, not select=d-score",
        ),
        (
            ("classify", "train", "{ds}", "--out", "{tmp}/c", "--resume", "--force"),
            "--resume and --force contradict each other",
        ),
        (
            ("gan", "train", "{ds}", "--out", "{tmp}/g", "--resume", "--force"),
            "--resume and --force contradict each other",
        ),
        (("gan", "train", "{ds}", "--out", "{tmp}/g", "--config", "/dev/zero"),
         "/dev/zero: larger"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_naming_the_option(
    cli, tiny_dataset: Path, tmp_path: Path, args: tuple, expected: str
) -> None:
    filled = [str(a).format(tmp=tmp_path, ds=tiny_dataset) for a in args]
    code, _, err = cli(*filled)
    assert code == 1 and expected in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-made


def test_seed_bounds_hold_in_the_configs_too() -> None:
    assert SampleConfig(per_class={"nevus": 1}, seed=2**32 - 1).seed == 2**32 - 1
    with pytest.raises(ValueError, match="< 2"):
        SampleConfig(per_class={"nevus": 1}, seed=2**32)


@pytest.mark.parametrize(
    ("batch", "where"),
    [(8, "the loss is"), (32, "the network's outputs are NaN/Inf after epoch 1")],
)  # a step that blows the weights up shows in the next loss, or (last step) in validation
def test_a_diverging_classifier_fails_with_its_reason(
    cli, tiny_dataset: Path, tmp_path: Path, batch: int, where: str
) -> None:
    out = tmp_path / "clf"
    args = ("classify", "train", tiny_dataset, "--out", out, "--epochs", 1, "--image-size", 16)
    code, _, err = cli(*args, "--set", f"batch_size={batch}", "--set", "lr=1e30")
    line = _one_line(err)
    assert code == 1 and f"training diverged: {where}" in line and "lower lr" in line
    status = read_status(out)
    assert status["state"] == "failed" and status["reason"].startswith("training diverged")


def test_a_full_disk_at_a_checkpoint_fails_in_one_line_and_resumes_later(
    cli, tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clf"
    real = torch.save

    def full(obj, f, *args, **kwargs):
        if "last.pt" in str(f):  # the resume checkpoint, after the first epoch
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 9")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full)
    args = ("classify", "train", tiny_dataset, "--out", out, *CLF)
    code, _, err = cli(*args)
    line = _one_line(err)
    assert code == 1 and "checkpoints/last.pt: cannot be written (the write failed" in line
    assert read_status(out)["state"] == "failed"
    monkeypatch.setattr(torch, "save", real)  # space was freed
    code, _, err = cli(*args, "--resume")
    assert code == 0, err
    assert read_status(out)["state"] == "done"


def test_a_full_disk_at_a_gan_checkpoint_fails_in_one_line_and_resumes_later(
    cli, tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "gan"
    real = torch.save
    saved: list[str] = []

    def full(obj, f, *args, **kwargs):
        if saved:  # the first checkpoint fits, the second finds the disk full
            raise OSError(28, "No space left on device")
        saved.append(str(f))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full)
    root = Path(__file__).resolve().parents[2]
    args = ("gan", "train", tiny_dataset, "--out", out, "--config", root / "configs/gan-tiny.yaml",
            "--set", "schedule.stabilize_kimg=0.2", "--set", "schedule.fade_kimg=0.2")  # fmt: skip
    code, _, err = cli(*args)
    line = _one_line(err)
    assert code == 1 and ": cannot be written (No space left on device)" in line
    assert "checkpoints/ckpt-" in line and "--resume" in line
    status = read_status(out)
    assert status["state"] == "failed" and "No space left" in status["reason"]
    monkeypatch.setattr(torch, "save", real)  # space was freed
    code, _, err = cli(*args, "--resume")
    assert code == 0, err
    assert read_status(out)["state"] == "done"


@pytest.mark.parametrize("results", [{"experiment": "imbalance"}, {"experiment": "imbalance",
                         "strategies": 3, "summary": [], "classes": "x"}])  # fmt: skip
def test_report_on_broken_results_is_one_line(cli, tmp_path: Path, results: dict) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results))
    code, _, err = cli("report", tmp_path)
    line = _one_line(err)
    assert code == 1 and line.startswith(f"{tmp_path / 'results.json'}: missing or malformed")


def test_export_of_broken_results_is_one_line_and_writes_nothing(cli, tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    results = {"experiment": "imbalance", "runs": "oops", "classes": ["a", "b"]}
    (exp / "results.json").write_text(json.dumps(results))
    (exp / "config.yaml").write_text("dataset: ds\n")
    code, _, err = cli("report", exp, "--export", tmp_path / "dest")
    line = _one_line(err)
    assert code == 1 and line.startswith(f"{exp / 'results.json'}: missing or malformed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no half-written export


# --- the selection classifier ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clf_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lesiongan.classify.config import ClassifyConfig
    from lesiongan.classify.run import run_classify

    out = tmp_path_factory.mktemp("sel") / "clf"
    cfg = ClassifyConfig(epochs=1, image_size=16, batch_size=8, bootstrap=10)
    run_classify(tiny_dataset, out, cfg)
    return out


def test_a_missing_selection_classifier_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        check_classifier_leakage(tmp_path / "nope", set())
    assert str(err.value).startswith(f"{tmp_path / 'nope'}: no such selection classifier")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("splits.csv", b"\xff\xfe\x00binary garbage", "not a readable splits.csv"),
        ("splits.csv", b"image_id,split\n", "lists no train or validation images"),
        ("run.json", b"{not json", "run.json: not valid JSON"),
        ("run.json", b"[1, 2]", "run.json: expected a JSON object"),
    ],
)
def test_a_corrupt_selection_classifier_is_one_line(
    clf_run: Path, tmp_path: Path, name: str, text: bytes, expected: str
) -> None:
    run = Path(shutil.copytree(clf_run, tmp_path / "clf"))
    (run / name).write_bytes(text)
    seen = set()  # the leakage guard fails on the file before it compares any hash
    with pytest.raises(LesionganError, match=expected):
        check_classifier_leakage(run, seen)


def test_a_missing_reused_gan_run_is_not_called_unfinished(tmp_path: Path) -> None:
    from lesiongan.experiments.gans import require_finished_gan

    with pytest.raises(LesionganError) as err:
        require_finished_gan(tmp_path / "gone")
    assert "no such GAN run directory" in str(err.value) and "--resume" not in str(err.value)


def test_export_of_a_generators_experiment_names_the_kind(cli, tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"experiment": "generators"}))
    code, _, err = cli("report", tmp_path, "--export", tmp_path.parent / "dest")
    line = _one_line(err)
    assert code == 1 and "not a generators experiment's" in line
    assert not (tmp_path.parent / "dest").exists()
