"""Issue 19 item 3: a prepared dataset's manifest paths stay inside the dataset (the rule of
synthetic manifests), files are checked against the hashes ``data prepare`` records, and
``dataset.json``'s split fingerprints against the manifest; a bad row is one line naming it."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lesiongan.data import manifest as manifest_mod
from lesiongan.data.manifest import is_confined, load_dataset
from lesiongan.errors import DataError


@pytest.fixture
def ds(tiny_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_dataset, tmp_path / "ds"))


def _rows(ds: Path) -> list[dict[str, str]]:
    with open(ds / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _write(ds: Path, rows: list[dict[str, str]]) -> None:
    with open(ds / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_prepare_records_the_hash_of_every_prepared_file(ds: Path) -> None:
    for r in _rows(ds):
        assert r["file_sha256"] == hashlib.sha256((ds / r["path"]).read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "path", ["../outside.png", "../../../../../../etc/passwd", "/etc/passwd", "images/../../x.png"]
)
def test_a_path_leaving_the_dataset_is_refused_naming_the_row(ds: Path, path: str) -> None:
    rows = _rows(ds)
    (ds.parent / "outside.png").write_bytes((ds / rows[2]["path"]).read_bytes())
    rows[2]["path"] = path
    _write(ds, rows)
    with pytest.raises(DataError) as err:
        load_dataset(ds, check_files=False)  # refused even when files are not looked at
    msg = str(err.value)
    assert msg.startswith(f"{ds / 'manifest.csv'}: line 4: image {rows[2]['image_id']}: path ")
    assert "must stay inside" in msg and "\n" not in msg


def test_the_torch_dataset_never_returns_an_outside_file(ds: Path) -> None:
    from lesiongan.data.torch_datasets import PreparedImageDataset

    rows = _rows(ds)
    (ds.parent / "outside.png").write_bytes((ds / rows[0]["path"]).read_bytes())
    rows[0]["path"] = "../outside.png"
    _write(ds, rows)
    with pytest.raises(DataError, match="must stay inside"):
        PreparedImageDataset(ds, rows[0]["split"])


def test_confinement_rule() -> None:
    for ok in ("images/a/b.png", "./a.png", "a..b/c.png"):
        assert is_confined(ok), ok
    for bad in ("", "..", "../a", "/a", "a/../../b", "C:\\a", "a\\..\\..\\b"):
        assert not is_confined(bad), bad


def test_a_folder_linked_in_by_its_writer_stays_readable(ds: Path, tmp_path: Path) -> None:
    """The rule reads the manifest's relative path, it does not resolve links: a scarcity
    fraction's ``images`` is a link to its parent's folder, and its files are still hashed."""
    from lesiongan.data.torch_datasets import PreparedImageDataset

    frac = tmp_path / "frac"
    frac.mkdir()
    (frac / "images").symlink_to((ds / "images").resolve(), target_is_directory=True)
    for name in ("manifest.csv", "dataset.json"):
        shutil.copyfile(ds / name, frac / name)
    assert len(load_dataset(frac).rows) == len(_rows(ds))
    split = _rows(ds)[0]["split"]
    assert len(PreparedImageDataset(frac, split)) == sum(r["split"] == split for r in _rows(ds))
    first = ds / _rows(ds)[0]["path"]  # the parent's file changes behind the link: caught
    shutil.copyfile(ds / _rows(ds)[1]["path"], first)
    with pytest.raises(DataError, match="does not match its recorded file_sha256"):
        load_dataset(frac)


def test_a_changed_file_is_refused_naming_the_row(ds: Path) -> None:
    rows = _rows(ds)
    shutil.copyfile(ds / rows[1]["path"], ds / rows[0]["path"])  # another image under its name
    with pytest.raises(DataError) as err:
        load_dataset(ds)
    assert str(err.value) == (
        f"{ds / 'manifest.csv'}: line 2: image {rows[0]['image_id']}: file {rows[0]['path']} "
        "does not match its recorded file_sha256 (changed after 'data prepare'; prepare the "
        "dataset again)"
    )
    load_dataset(ds, check_files=False)  # the manifest itself is fine


def test_an_edited_split_does_not_match_dataset_json(ds: Path) -> None:
    rows = _rows(ds)
    moved = next(r for r in rows if r["split"] == "test")
    moved["split"] = "train"  # a test image moved into training: the leakage guard's worry
    _write(ds, rows)
    with pytest.raises(DataError, match=r"dataset\.json: split_fingerprints\.test does not match"):
        load_dataset(ds, check_files=False)


def test_files_are_hashed_once_per_process(ds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = manifest_mod.sha256_file
    monkeypatch.setattr(manifest_mod, "_HASHES", {})
    monkeypatch.setattr(manifest_mod, "sha256_file", lambda p: calls.append(p) or real(p))
    load_dataset(ds)
    n = len(_rows(ds))
    assert len(calls) == n
    load_dataset(ds)
    assert len(calls) == n  # unchanged files: not read again
    first = ds / _rows(ds)[0]["path"]
    first.write_bytes(first.read_bytes())  # same bytes, new modification time: checked again
    load_dataset(ds)
    assert len(calls) == n + 1


def test_an_older_manifest_without_hashes_still_loads(ds: Path) -> None:
    rows = _rows(ds)
    for r in rows:
        del r["file_sha256"]
    _write(ds, rows)
    assert len(load_dataset(ds).rows) == len(rows)


def test_classify_train_refuses_an_outside_path_in_one_line(cli, ds: Path, tmp_path: Path) -> None:
    rows = _rows(ds)
    rows[0]["path"] = "../../../../../../../etc/passwd"
    _write(ds, rows)
    code, _, err = cli("classify", "train", ds, "--out", tmp_path / "clf", "--epochs", 1)
    assert code == 1 and "Traceback" not in err and "must stay inside" in err
    assert not (tmp_path / "clf").exists()


def test_an_edited_label_does_not_match_dataset_json(ds: Path) -> None:
    rows = _rows(ds)
    row = next(r for r in rows if r["split"] == "train")
    classes = json.loads((ds / "dataset.json").read_text())["classes"]
    row["label"] = next(c for c in classes if c != row["label"])
    _write(ds, rows)  # the split fingerprints (source image hashes) do not change
    with pytest.raises(DataError) as err:
        load_dataset(ds, check_files=False)
    msg = str(err.value)
    assert msg.startswith(f"{ds / 'dataset.json'}: counts.train.") and "labels were changed" in msg
