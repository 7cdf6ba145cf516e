"""``data prepare`` end to end on tiny sources and on the real ISIC 2017 sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import make_isic2017, tree_state
from lesiongan.data.manifest import CONTRACT_COLUMNS, load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.errors import DataError, LesionganError, OutputExistsError


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_real_sample_prepared_via_cli(cli, isic_sample: Path, tmp_path: Path) -> None:
    before = tree_state(isic_sample)
    out = tmp_path / "ds"
    code, stdout, err = cli("data", "prepare", isic_sample, "--out", out, "--size", 128)
    assert code == 0, err
    assert tree_state(isic_sample) == before
    header = (out / "manifest.csv").read_text().splitlines()[0].split(",")
    assert tuple(header[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    rows = _manifest(out)
    assert len(rows) == 6
    assert {r["split"] for r in rows} == {"train", "test"}
    for r in rows:
        with Image.open(out / r["path"]) as im:
            assert im.size == (128, 128) and im.mode == "RGB"
        assert int(r["width"]) == int(r["height"]) == 128
        assert int(r["source_width"]) in (1024, 4288)
    info = json.loads((out / "dataset.json").read_text())
    assert info["classes"] == ["melanoma", "seborrheic_keratosis", "nevus"]
    assert info["counts"]["train"] == {"melanoma": 1, "seborrheic_keratosis": 1, "nevus": 1}
    assert info["image_size"] == 128 and info["seed"] == 0
    for name in ("config.yaml", "provenance.json"):
        assert (out / name).is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["lesiongan_version"] and prov["inputs"]["source"]["format"] == "isic2017"
    assert "melanoma" in stdout


def test_source_sha256_is_the_hash_of_the_original_bytes(
    isic2017_dir: Path, tmp_path: Path
) -> None:
    import hashlib

    run_prepare(isic2017_dir, tmp_path / "ds", PrepareConfig(size=16), workers=1)
    for r in _manifest(tmp_path / "ds"):
        data = (isic2017_dir / r["source_path"]).read_bytes()
        assert r["source_sha256"] == hashlib.sha256(data).hexdigest()


def test_output_does_not_depend_on_worker_count(isic2017_dir: Path, tmp_path: Path) -> None:
    run_prepare(isic2017_dir, tmp_path / "a", PrepareConfig(size=16, seed=5), workers=1)
    run_prepare(isic2017_dir, tmp_path / "b", PrepareConfig(size=16, seed=5), workers=2)
    assert (tmp_path / "a" / "manifest.csv").read_text() == (
        tmp_path / "b" / "manifest.csv"
    ).read_text()
    assert tree_state(tmp_path / "a" / "images") == tree_state(tmp_path / "b" / "images")


def test_seed_changes_the_split(isic2017_dir: Path, tmp_path: Path) -> None:
    run_prepare(isic2017_dir, tmp_path / "a", PrepareConfig(size=16, seed=0), workers=1)
    run_prepare(isic2017_dir, tmp_path / "b", PrepareConfig(size=16, seed=1), workers=1)
    split = lambda out: {r["image_id"]: r["split"] for r in _manifest(out)}  # noqa: E731
    assert split(tmp_path / "a") != split(tmp_path / "b")
    counts = lambda out: json.loads((out / "dataset.json").read_text())["counts"]  # noqa: E731
    assert counts(tmp_path / "a") == counts(tmp_path / "b")


def test_existing_output_is_reused_or_needs_force_and_is_replaced_atomically(
    isic2017_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    first = run_prepare(isic2017_dir, out, PrepareConfig(size=16), workers=1)
    before = (out / "manifest.csv").stat().st_mtime_ns
    again = run_prepare(isic2017_dir, out, PrepareConfig(size=16), workers=1)  # same config
    assert again.reused and not first.reused and again.counts == first.counts
    assert again.classes == first.classes and again.format == first.format
    assert (out / "manifest.csv").stat().st_mtime_ns == before
    with pytest.raises(OutputExistsError, match=r"image_size|size \(saved 16, now 24\).*--force"):
        run_prepare(isic2017_dir, out, PrepareConfig(size=24), workers=1)
    (out / "marker").write_text("mine")  # a file lesiongan did not write: --force keeps it
    with pytest.raises(OutputExistsError, match="holds marker, which the lesiongan stage"):
        run_prepare(isic2017_dir, out, PrepareConfig(size=24), force=True, workers=1)
    (out / "marker").unlink()
    old = {p.name for p in (out / "images").rglob("*.png")}
    run_prepare(isic2017_dir, out, PrepareConfig(size=24), force=True, workers=1)
    assert json.loads((out / "dataset.json").read_text())["image_size"] == 24
    assert {p.name for p in (out / "images").rglob("*.png")} == old


def test_output_inside_the_source_is_refused_even_with_force(isic2017_dir: Path) -> None:
    before = tree_state(isic2017_dir)
    for out in (isic2017_dir / "prepared", isic2017_dir):
        with pytest.raises(LesionganError, match="never writes into its inputs"):
            run_prepare(isic2017_dir, out, PrepareConfig(size=16), force=True, workers=1)
    assert tree_state(isic2017_dir) == before


def test_failure_midway_leaves_no_output(isic2017_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import lesiongan.data.prepare as prep

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "save_dataset", boom)
    with pytest.raises(KeyboardInterrupt):
        run_prepare(isic2017_dir, tmp_path / "ds", PrepareConfig(size=16), workers=1)
    assert list(tmp_path.iterdir()) == [isic2017_dir]


def test_official_split_keeps_source_splits_and_poster_uses_training_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_isic2017(src, {"melanoma": 5, "seborrheic_keratosis": 5, "nevus": 10}, "Training", start=0)
    make_isic2017(
        src, {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 2}, "Validation", start=100
    )
    make_isic2017(src, {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 3}, "Test_v2", start=200)
    run_prepare(src, tmp_path / "off", PrepareConfig(size=16, split="official"), workers=1)
    info = json.loads((tmp_path / "off" / "dataset.json").read_text())
    assert {s: sum(c.values()) for s, c in info["counts"].items()} == {
        "train": 20,
        "val": 6,
        "test": 7,
    }
    run_prepare(src, tmp_path / "poster", PrepareConfig(size=16, split="poster"), workers=1)
    info = json.loads((tmp_path / "poster" / "dataset.json").read_text())
    assert {s: sum(c.values()) for s, c in info["counts"].items()} == {"train": 12, "test": 8}
    assert info["source_splits"] == ["train"]


def test_official_split_can_test_on_the_validation_images(tmp_path: Path) -> None:
    """ISIC 2017 without its test images: train on every training image, test on val."""
    src = tmp_path / "src"
    make_isic2017(src, {"melanoma": 5, "seborrheic_keratosis": 5, "nevus": 10}, "Training", start=0)
    make_isic2017(
        src, {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 2}, "Validation", start=100
    )
    cfg = PrepareConfig(size=16, split="official", test_split="val")
    run_prepare(src, tmp_path / "off", cfg, workers=1)
    info = json.loads((tmp_path / "off" / "dataset.json").read_text())
    assert {s: sum(c.values()) for s, c in info["counts"].items()} == {"train": 20, "test": 6}
    for bad, message in (
        (PrepareConfig(size=16, split="official", test_split="nope"), "it has: val"),
        (PrepareConfig(size=16, test_split="val"), "applies to --split official only"),
    ):
        with pytest.raises(DataError, match=message):
            run_prepare(src, tmp_path / "bad", bad, workers=1)
        assert not (tmp_path / "bad").exists()
    make_isic2017(src, {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 3}, "Test_v2", start=200)
    with pytest.raises(DataError, match="has a test split already"):
        run_prepare(src, tmp_path / "bad", cfg, workers=1)


def test_official_split_needs_several_splits(isic2017_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--split official needs"):
        run_prepare(
            isic2017_dir, tmp_path / "ds", PrepareConfig(size=16, split="official"), workers=1
        )
    assert not (tmp_path / "ds").exists()


def test_prepared_dataset_loads_and_validates(isic2017_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    run_prepare(isic2017_dir, out, PrepareConfig(size=16), workers=1)
    ds = load_dataset(out)
    assert len(ds.rows) == 16 and ds.classes == ("melanoma", "seborrheic_keratosis", "nevus")
    assert len(ds.split_rows("test")) == round(16 * 0.4)
    (out / ds.rows[0].path).unlink()
    with pytest.raises(DataError, match="is missing"):
        load_dataset(out)


def test_cli_prepare_reads_config_file_and_set_overrides(
    cli, isic2017_dir: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "prep.yaml"
    cfg.write_text("size: 20\nseed: 3\n")
    out = tmp_path / "ds"
    code, _, err = cli(
        "data", "prepare", isic2017_dir, "--out", out, "--config", cfg, "--set", "size=24"
    )
    assert code == 0, err
    saved = (out / "config.yaml").read_text()
    assert "size: 24" in saved and "seed: 3" in saved
    cfg.write_text("size: 20\nsplitt: poster\n")
    code, _, err = cli("data", "prepare", isic2017_dir, "--out", tmp_path / "ds2", "--config", cfg)
    assert code == 1 and "unknown key 'splitt'" in err and str(cfg) in err


def test_identical_files_under_different_ids_share_a_split(tmp_path: Path) -> None:
    import shutil

    src = tmp_path / "src"
    ids = make_isic2017(src, {"melanoma": 6, "seborrheic_keratosis": 6, "nevus": 12})
    data = src / "ISIC-2017_Training_Data"
    gt = src / "ISIC-2017_Training_Part3_GroundTruth.csv"
    lines = gt.read_text().splitlines()
    # three nevi re-released under new ids, byte for byte
    for k, image_id in enumerate(ids[-3:]):
        twin = f"ISIC_09{k:05d}"
        shutil.copyfile(data / f"{image_id}.jpg", data / f"{twin}.jpg")
        lines.append(f"{twin},0.0,0.0")
    gt.write_text("\n".join(lines) + "\n")
    for seed in range(5):
        out = tmp_path / f"ds{seed}"
        run_prepare(src, out, PrepareConfig(size=16, seed=seed), workers=1)
        split = {r["image_id"]: r["split"] for r in _manifest(out)}
        for k, image_id in enumerate(ids[-3:]):
            assert split[image_id] == split[f"ISIC_09{k:05d}"]


def test_forced_onehot_format_without_csv_is_a_clear_error(isic2017_dir: Path) -> None:
    from lesiongan.data.readers import read_source

    with pytest.raises(DataError, match=r"GroundTruth\.csv"):
        read_source(isic2017_dir, "isic-onehot")
