"""Every kind of bad input the issue lists: found by the reader or decoder, reported with the file,
fatal for ``prepare`` (nothing written) unless ``--skip-bad`` (then listed in skipped.csv)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import make_isic2017, tree_state, write_csv, write_image

GT = "ISIC-2017_Training_Part3_GroundTruth.csv"
DATA = "ISIC-2017_Training_Data"


def _truncate(root: Path) -> str:
    p = root / DATA / "ISIC_0000001.jpg"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    return "ISIC_0000001.jpg"


def _corrupt(root: Path) -> str:
    (root / DATA / "ISIC_0000002.jpg").write_bytes(b"<html>this is not an image at all</html>")
    return "ISIC_0000002.jpg"


def _missing_image(root: Path) -> str:
    (root / DATA / "ISIC_0000003.jpg").unlink()
    return GT


def _unlabelled(root: Path) -> str:
    write_image(root / DATA / "ISIC_0999999.jpg")
    return "ISIC_0999999.jpg"


def _duplicate(root: Path) -> str:
    gt = root / GT
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join([*lines, lines[5]]) + "\n")
    return GT


def _both_labels(root: Path) -> str:
    gt = root / GT
    gt.write_text(gt.read_text().replace("ISIC_0000004,0.0,1.0", "ISIC_0000004,1.0,1.0"))
    return GT


def _unknown_column(root: Path) -> str:
    gt = root / GT
    rows = list(csv.reader(gt.read_text().splitlines()))
    write_csv(gt, [*rows[0], "benign"], [[*r, 0] for r in rows[1:]])
    return GT


def _empty_class(root: Path) -> str:
    gt = root / GT
    rows = list(csv.reader(gt.read_text().splitlines()))
    keep = [r for r in rows[1:] if r[2] != "1.0"]  # drop every keratosis row and image
    for r in rows[1:]:
        if r[2] == "1.0":
            (root / DATA / f"{r[0]}.jpg").unlink()
    write_csv(gt, rows[0], keep)
    return "seborrheic_keratosis"


def _too_small(root: Path) -> str:
    write_image(root / DATA / "ISIC_0000005.jpg", size=(12, 10))
    return "ISIC_0000005.jpg"


BAD_INPUTS: dict[str, tuple[Callable[[Path], str], str]] = {
    "truncated": (_truncate, "truncated"),
    "corrupt": (_corrupt, "not a readable image"),
    "missing_image": (_missing_image, "not found"),
    "unlabelled_image": (_unlabelled, "no row in"),
    "duplicate_id": (_duplicate, "duplicate image id"),
    "both_labels": (_both_labels, "both melanoma and seborrheic keratosis"),
    "unknown_column": (_unknown_column, "unknown column(s) benign"),
    "empty_class": (_empty_class, "has no images"),
    "too_small": (_too_small, "smaller than the target size 16"),
}


@pytest.fixture(params=sorted(BAD_INPUTS))
def bad_source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, str]:
    root = tmp_path / "src"
    make_isic2017(root)
    spoil, message = BAD_INPUTS[request.param]
    named = spoil(root)
    return root, named, message


def test_prepare_refuses_bad_input_and_writes_nothing(cli, bad_source, tmp_path: Path) -> None:
    root, named, message = bad_source
    before = tree_state(root)
    out = tmp_path / "out"
    code, _, err = cli("data", "prepare", root, "--out", out, "--size", 16, "--workers", 1)
    assert code == 1
    assert "Traceback" not in err
    problem_lines = [ln for ln in err.splitlines() if message in ln]
    assert problem_lines, err
    assert named in problem_lines[0]
    assert err.strip().splitlines()[-1].startswith("lesiongan: error:")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]
    assert tree_state(root) == before


def test_inspect_reports_the_same_problem(cli, bad_source) -> None:
    root, named, message = bad_source
    code, _, err = cli("data", "inspect", root, "--size", 16, "--workers", 1)
    assert code == 1
    assert any(message in ln and named in ln for ln in err.splitlines()), err


def test_skip_bad_leaves_out_and_lists_the_bad_items(cli, bad_source, tmp_path: Path) -> None:
    root, named, message = bad_source
    out = tmp_path / "out"
    code, _, err = cli(
        "data", "prepare", root, "--out", out, "--size", 16, "--skip-bad", "--workers", 1
    )
    assert code == 0, err
    skipped = (out / "skipped.csv").read_text()
    assert message in skipped and named in skipped
    manifest = (out / "manifest.csv").read_text()
    if named.endswith(".jpg"):
        assert named.removesuffix(".jpg") not in manifest
    if named == "seborrheic_keratosis":
        assert "seborrheic_keratosis" not in (out / "dataset.json").read_text()


def test_duplicate_ids_across_splits_drop_both(tmp_path: Path) -> None:
    from lesiongan.data.readers import read_source

    make_isic2017(
        tmp_path, {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 2}, "Training", start=0
    )
    make_isic2017(
        tmp_path, {"melanoma": 1, "seborrheic_keratosis": 1, "nevus": 1}, "Test_v2", start=0
    )
    ds = read_source(tmp_path)
    dups = [p for p in ds.problems if p.kind == "duplicate_id"]
    assert len(dups) == 6  # three ids, each in two splits
    assert not {im.image_id for im in ds.images} & {"ISIC_0000000", "ISIC_0000001", "ISIC_0000002"}


def test_missing_required_column_is_fatal_even_with_skip_bad(cli, tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_isic2017(root)
    gt = root / GT
    gt.write_text(gt.read_text().replace("seborrheic_keratosis", "keratosis", 1))
    code, _, err = cli(
        "data", "prepare", root, "--out", tmp_path / "out", "--size", 16, "--skip-bad"
    )
    assert code == 1
    assert "missing column(s) seborrheic_keratosis" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.95])
def test_skip_bad_skips_a_truncated_jpeg_with_worker_processes(
    cli, tmp_path: Path, keep: float
) -> None:
    """Issue 11: --skip-bad must skip a truncated JPEG (not ask for --skip-bad), also when the
    images are decoded in worker processes and wherever the file is cut."""
    root = tmp_path / "src"
    make_isic2017(root)
    p = root / DATA / "ISIC_0000006.jpg"
    data = p.read_bytes()
    p.write_bytes(data[: max(200, int(len(data) * keep))])
    out = tmp_path / "out"
    code, _, err = cli(
        "data", "prepare", root, "--out", out, "--size", 16, "--skip-bad", "--workers", 2
    )
    assert code == 0 and "use --skip-bad" not in err, err
    skipped = list(csv.DictReader((out / "skipped.csv").open()))
    assert [Path(r["path"]).name for r in skipped] == ["ISIC_0000006.jpg"]
    assert skipped[0]["kind"] == "corrupt_image" and "truncated" in skipped[0]["message"]
    assert "ISIC_0000006" not in (out / "manifest.csv").read_text()
