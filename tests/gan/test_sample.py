"""``gan sample``: manifest contract, per-image seeds, d_score, errors; plus the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gan_helpers import tiny_config
from PIL import Image

from lesiongan.errors import LesionganError
from lesiongan.gan.grid import to_uint8
from lesiongan.gan.inference import COMPANION_SEED, generate, load_gan, score_images
from lesiongan.gan.run import run_training
from lesiongan.gan.sample import SampleConfig, parse_per_class, run_sample


@pytest.fixture(scope="module")
def gan_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "run"
    run_training(
        tiny_dataset,
        out,
        tiny_config(**{"schedule.stabilize_kimg": 0.2, "schedule.fade_kimg": 0.2}),
    )
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_manifest_follows_the_contract(gan_run: Path, tmp_path: Path) -> None:
    out = run_sample(
        gan_run, tmp_path / "syn", SampleConfig(per_class={"melanoma": 5, "nevus": 3}, seed=4)
    ).path
    rows = _rows(out)
    header = (out / "manifest.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["image_id", "label", "path", "seed", "checkpoint_sha256", "d_score"]
    assert [r["label"] for r in rows] == ["melanoma"] * 5 + ["nevus"] * 3
    assert len({r["image_id"] for r in rows}) == 8 and len({r["seed"] for r in rows}) == 8
    for r in rows:
        with Image.open(out / r["path"]) as im:
            assert im.size == (16, 16) and im.mode == "RGB"
        assert np.isfinite(float(r["d_score"]))
    info = json.loads((out / "synthetic.json").read_text())
    run = json.loads((gan_run / "run.json").read_text())
    assert info["train_split_fingerprint"] == run["train_split_fingerprint"]
    assert info["checkpoint_sha256"] == rows[0]["checkpoint_sha256"]
    assert (out / "gan_train_images.csv").read_text() == (gan_run / "train_images.csv").read_text()
    assert (out / "preview.png").is_file()


def test_any_image_regenerates_from_its_seed(gan_run: Path, tmp_path: Path) -> None:
    out = run_sample(
        gan_run, tmp_path / "syn", SampleConfig(per_class={"seborrheic_keratosis": 6}, batch_size=4)
    ).path
    gan = load_gan(gan_run)
    row = _rows(out)[5]
    again = to_uint8(generate(gan, [int(row["seed"])], [gan.classes.index(row["label"])]))[0]
    assert np.array_equal(again, np.asarray(Image.open(out / row["path"])))


def test_d_score_is_the_discriminators_score_and_its_own(gan_run: Path, tmp_path: Path) -> None:
    out = run_sample(
        gan_run, tmp_path / "syn", SampleConfig(per_class={"melanoma": 5}, batch_size=3)
    ).path
    gan = load_gan(gan_run)
    for row in _rows(out)[3:]:
        pixels = np.array(Image.open(out / row["path"]))
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
        alone = score_images(gan, x, [0]).item()  # scored alone, not with its sampling batch
        assert float(row["d_score"]) == pytest.approx(alone, rel=1e-4, abs=1e-4)
        companions = generate(
            gan, [COMPANION_SEED, COMPANION_SEED + 1, COMPANION_SEED + 2], [0, 0, 0]
        )
        direct = gan.D(
            torch.cat([x, companions]), torch.zeros(4, dtype=torch.int64), gan.stage, 1.0
        )[0]
        assert alone == pytest.approx(direct.item(), rel=1e-5, abs=1e-5)


def test_classes_give_different_images_for_the_same_latent(gan_run: Path) -> None:
    gan = load_gan(gan_run)
    imgs = generate(gan, [7, 7, 7], [0, 1, 2])
    assert (imgs[0] - imgs[1]).abs().mean() > 1e-3 and (imgs[1] - imgs[2]).abs().mean() > 1e-3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("melanoma", "expected CLASS=N"),
        ("melanoma=x", "whole number"),
        ("melanoma=-1", "from 1 to 1,000,000"),
        ("melanoma=0", "from 1 to 1,000,000"),
        ("melanoma=99999999999999999999", "from 1 to 1,000,000"),
        ("melanoma=2,melanoma=3", "melanoma is given twice"),
        ("", "at least one"),
    ],
)
def test_per_class_parsing_errors(text: str, message: str) -> None:
    with pytest.raises(LesionganError, match=message):
        parse_per_class(text)


def test_unknown_class_and_existing_output(gan_run: Path, tmp_path: Path) -> None:
    with pytest.raises(LesionganError, match="not in this GAN"):
        run_sample(gan_run, tmp_path / "a", SampleConfig(per_class={"basal_cell_carcinoma": 2}))
    assert not (tmp_path / "a").exists()
    first = run_sample(gan_run, tmp_path / "b", SampleConfig(per_class={"nevus": 1}))
    assert not first.reused
    again = run_sample(gan_run, tmp_path / "b", SampleConfig(per_class={"nevus": 1}))
    assert again.reused  # the same command again reuses the finished directory
    with pytest.raises(LesionganError, match=r"per_class\.nevus \(saved 1, now 2\).*--force"):
        run_sample(gan_run, tmp_path / "b", SampleConfig(per_class={"nevus": 2}))
    assert run_sample(
        gan_run, tmp_path / "b", SampleConfig(per_class={"nevus": 2}), force=True
    ).path.is_dir()


def test_cli_train_dry_run_train_and_sample(cli, tiny_dataset: Path, tmp_path: Path) -> None:
    from gan_helpers import TINY

    train = ("gan", "train", tiny_dataset, "--out", tmp_path / "run", "--config", TINY)
    code, out, _ = cli(*train, "--dry-run")
    assert code == 0 and "schedule" in out and "fade" in out
    assert not (tmp_path / "run").exists()
    code, _, err = cli(
        *train, "--set", "schedule.stabilize_kimg=0.1", "--set", "schedule.fade_kimg=0.1"
    )
    assert code == 0, err
    sample = (
        "gan",
        "sample",
        tmp_path / "run",
        "--out",
        tmp_path / "syn",
        "--per-class",
        "nevus=3",
    )
    code, out, err = cli(*sample)
    assert code == 0, err
    assert len(_rows(tmp_path / "syn")) == 3
    code, _, err = cli(
        "gan", "sample", tmp_path / "nope", "--out", tmp_path / "syn2", "--per-class", "nevus=3"
    )
    assert code == 1 and "no such GAN run directory" in err and "Traceback" not in err
    code, _, err = cli(*train, "--set", "lossx=1")
    assert code == 1 and "unknown key 'lossx'" in err


def test_checkpoint_saved_mid_fade_is_sampled_with_its_alpha(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run_training(tiny_dataset, run, tiny_config(), stop_at_kimg=0.6)  # 16 px fade: 0.4 -> 0.8 kimg
    gan = load_gan(run)
    assert gan.resolution == 16 and 0.4 < gan.alpha < 0.6


def test_sampling_refuses_what_would_break_the_leakage_guard(gan_run: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(gan_run, other)
    foreign = SampleConfig(
        per_class={"nevus": 1}, checkpoint=str(next((gan_run / "checkpoints").glob("*.pt")))
    )
    with pytest.raises(LesionganError, match="not a checkpoint of"):
        run_sample(other, tmp_path / "a", foreign)
    (other / "train_images.csv").unlink()
    with pytest.raises(LesionganError, match=r"train_images\.csv: missing"):
        run_sample(other, tmp_path / "b", SampleConfig(per_class={"nevus": 1}))


def test_unconditional_multi_class_gan_cannot_sample_a_class(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(
        **{"network.conditional": False, "schedule.stabilize_kimg": 0.1, "schedule.fade_kimg": 0.1}
    )
    run_training(tiny_dataset, tmp_path / "run", cfg)
    with pytest.raises(LesionganError, match="unconditional GAN"):
        run_sample(tmp_path / "run", tmp_path / "syn", SampleConfig(per_class={"nevus": 1}))
    cfg = tiny_config(
        **{
            "network.conditional": False,
            "data.classes": ["melanoma"],
            "schedule.stabilize_kimg": 0.1,
            "schedule.fade_kimg": 0.1,
        }
    )
    run_training(tiny_dataset, tmp_path / "mel", cfg)
    out = run_sample(
        tmp_path / "mel", tmp_path / "syn2", SampleConfig(per_class={"melanoma": 2})
    ).path
    assert [r["label"] for r in _rows(out)] == ["melanoma", "melanoma"]


def test_cli_option_errors_are_one_line(cli, gan_run: Path, tmp_path: Path) -> None:
    code, _, err = cli(
        "gan",
        "sample",
        gan_run,
        "--out",
        tmp_path / "s",
        "--per-class",
        "nevus=1",
        "--batch-size",
        0,
    )
    assert code == 1 and "--batch-size" in err and "Traceback" not in err
    code, _, err = cli(
        "gan",
        "sample",
        gan_run,
        "--out",
        tmp_path / "s",
        "--per-class",
        "nevus=1",
        "--device",
        "gpu",
    )
    assert code == 1 and "not a device" in err


def test_real_training_images_are_scored_for_soft_labels(
    gan_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    from lesiongan.data.images import read_prepared
    from lesiongan.data.manifest import load_dataset

    out = run_sample(gan_run, tmp_path / "syn", SampleConfig(per_class={"nevus": 2})).path
    with open(out / "real_scores.csv", newline="") as f:
        real = list(csv.DictReader(f))
    with open(gan_run / "train_images.csv", newline="") as f:
        trained = list(csv.DictReader(f))
    assert [r["image_id"] for r in real] == [r["image_id"] for r in trained]
    assert [r["source_sha256"] for r in real] == [r["source_sha256"] for r in trained]
    assert json.loads((out / "synthetic.json").read_text())["real_scores"] == "real_scores.csv"
    # each score is D's score of that image, scored like a synthetic one
    gan, ds = load_gan(gan_run), load_dataset(tiny_dataset)
    row = next(r for r in ds.rows if r.image_id == real[-1]["image_id"])
    x = torch.from_numpy(read_prepared(ds.image_path(row), 16))[None].float() / 127.5 - 1
    alone = score_images(gan, x, [gan.classes.index(row.label)]).item()
    assert float(real[-1]["d_score"]) == pytest.approx(alone, rel=1e-4, abs=1e-4)


def test_missing_gan_dataset_skips_real_scores_and_says_why(gan_run: Path, tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "run"
    shutil.copytree(gan_run, moved)
    info = json.loads((moved / "run.json").read_text())
    info["dataset"] = str(tmp_path / "gone")
    (moved / "run.json").write_text(json.dumps(info))
    out = run_sample(moved, tmp_path / "syn", SampleConfig(per_class={"nevus": 1})).path
    assert not (out / "real_scores.csv").exists()
    reason = json.loads((out / "synthetic.json").read_text())["real_scores_missing_reason"]
    assert "gone" in reason and "not there" in reason
