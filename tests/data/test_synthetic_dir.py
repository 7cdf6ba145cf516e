"""Synthetic directories and the leakage guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lesiongan.data.manifest import load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synthetic import LeakageError, check_leakage, load_synthetic
from lesiongan.errors import DataError


def _synthetic_dir(root: Path, gan_train_sha: list[str], labels=("melanoma", "nevus")) -> Path:
    """A synthetic directory written by hand, following DESIGN.md's contract."""
    (root / "images").mkdir(parents=True)
    lines = ["image_id,label,path,seed,checkpoint_sha256,d_score"]
    for i, label in enumerate(labels):
        Image.new("RGB", (16, 16), (200, 100, 90)).save(root / "images" / f"s{i}.png")
        lines.append(f"s{i},{label},images/s{i}.png,{i},abc,{0.5 - i}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    (root / "gan_train_images.csv").write_text(
        "image_id,label,source_sha256\n"
        + "".join(f"x{i},nevus,{s}\n" for i, s in enumerate(gan_train_sha))
    )
    return root


@pytest.fixture
def two_splits(isic2017_dir: Path, tmp_path: Path):
    run_prepare(isic2017_dir, tmp_path / "a", PrepareConfig(size=16, seed=0), workers=1)
    run_prepare(isic2017_dir, tmp_path / "b", PrepareConfig(size=16, seed=1), workers=1)
    return load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")


def test_guard_passes_when_the_gan_saw_only_this_train_split(two_splits, tmp_path: Path) -> None:
    a, _ = two_splits
    syn = load_synthetic(
        _synthetic_dir(tmp_path / "syn", [r.source_sha256 for r in a.split_rows("train")]),
        a.classes,
    )
    assert syn.counts() == {"melanoma": 1, "nevus": 1}
    check_leakage(a.split_rows("test"), syn)


def test_guard_fires_when_the_gan_saw_test_images(two_splits, tmp_path: Path) -> None:
    a, b = two_splits
    # a GAN trained on split A's train images, used with split B: some of B's test images leak
    syn = load_synthetic(
        _synthetic_dir(tmp_path / "syn", [r.source_sha256 for r in a.split_rows("train")])
    )
    with pytest.raises(LeakageError, match="refusing to evaluate"):
        check_leakage(b.split_rows("test"), syn)


def test_directory_without_gan_training_list_is_refused(tmp_path: Path) -> None:
    root = _synthetic_dir(tmp_path / "syn", ["x"])
    (root / "gan_train_images.csv").unlink()
    with pytest.raises(DataError, match="leakage guard cannot run"):
        load_synthetic(root)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("d_score", "score"), "missing column"),
        (lambda t: t.replace(",0.5,", ",high,").replace(",0.5\n", ",high\n"), "d_score a number"),
        (lambda t: t.replace("s1,nevus", "s0,nevus"), "duplicate image_id"),
        (lambda t: t.replace(",nevus,", ",wart,"), "not a dataset class"),
    ],
)
def test_bad_manifests_are_one_line_errors(tmp_path: Path, edit, message: str) -> None:
    root = _synthetic_dir(tmp_path / "syn", ["x"])
    manifest = root / "manifest.csv"
    manifest.write_text(edit(manifest.read_text()))
    with pytest.raises(DataError, match=message):
        load_synthetic(root, ("melanoma", "seborrheic_keratosis", "nevus"))


def test_guard_normalizes_hashes_and_refuses_what_it_cannot_check(
    two_splits, tmp_path: Path
) -> None:
    import dataclasses

    a, _ = two_splits
    test = a.split_rows("test")
    shouted = [
        r.source_sha256.upper() + " " for r in test[:1]
    ]  # the same image, written differently
    syn = load_synthetic(_synthetic_dir(tmp_path / "syn", shouted))
    with pytest.raises(LeakageError, match="refusing to evaluate"):
        check_leakage(test, syn)
    clean = load_synthetic(
        _synthetic_dir(tmp_path / "clean", [r.source_sha256 for r in a.split_rows("train")])
    )
    unhashed = [dataclasses.replace(test[0], source_sha256=""), *test[1:]]
    with pytest.raises(LeakageError, match="no valid source_sha256"):
        check_leakage(unhashed, clean)


def test_empty_gan_list_and_escaping_paths_are_refused(tmp_path: Path) -> None:
    root = _synthetic_dir(tmp_path / "syn", [])
    with pytest.raises(DataError, match="lists no images"):
        load_synthetic(root)
    root = _synthetic_dir(tmp_path / "syn2", ["a" * 64])
    manifest = root / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("images/s0.png", "../../etc/hostname"))
    with pytest.raises(DataError, match="must stay inside"):
        load_synthetic(root)
