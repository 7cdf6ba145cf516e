"""Creating a study: balanced seeded selection, unseen real images, atomic, clear errors."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from turing_helpers import decode, make_dataset, make_study, make_synthetic

from lesiongan.errors import DataError, OutputExistsError
from lesiongan.turing import db
from lesiongan.turing.study import StudyConfig, run_create, run_invite


def _items(db_path: Path) -> list[dict]:
    conn = db.open_study(db_path)
    try:
        return db.load_items(conn)
    finally:
        conn.close()


def _order(db_path: Path, rater: str) -> list[str]:
    conn = db.open_study(db_path)
    rows = conn.execute(
        "SELECT i.origin_id FROM assignments a JOIN items i ON i.id = a.item_id "
        "JOIN raters r ON r.id = a.rater_id WHERE r.name = ? ORDER BY a.position",
        (rater,),
    )
    return [r[0] for r in rows]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    ds = make_dataset(tmp_path / "ds")
    return ds, make_synthetic(tmp_path / "syn", ds)


def test_selection_is_balanced_from_unseen_test_images(tmp_path: Path) -> None:
    db_path, info = make_study(tmp_path, n_per_class=4)
    items = _items(db_path)
    assert info.n_items == len(items) == 16
    counts = Counter((i["source"], i["label"]) for i in items)
    assert counts == {
        (s, c): 4 for s in ("real", "synthetic") for c in ("melanoma", "nevus")
    }  # classes default to those of the synthetic set
    from lesiongan.data.manifest import load_dataset

    ds = load_dataset(tmp_path / "ds")
    split = {r.image_id: r.split for r in ds.rows}
    assert all(split[i["origin_id"]] == "test" for i in items if i["source"] == "real")
    meta = db.get_meta(db.open_study(db_path))
    assert meta["split"] == "test" and meta["classes"] == ["melanoma", "nevus"]
    assert meta["dataset_fingerprint"] and meta["synthetic_manifest_sha256"]


def test_same_seed_same_study_other_seed_other_study(tmp_path: Path, inputs) -> None:
    ds, syn = inputs

    def build(name: str, seed: int) -> Path:
        cfg = StudyConfig(n_per_class=3, seed=seed, raters=["a", "b"])
        return run_create(ds, syn, tmp_path / name, cfg).db_path

    a, b, c = build("a.sqlite", 0), build("b.sqlite", 0), build("c.sqlite", 1)
    origins = [[i["origin_id"] for i in _items(p)] for p in (a, b, c)]
    assert origins[0] == origins[1] and origins[0] != origins[2]
    assert _order(a, "a") == _order(b, "a") and _order(a, "a") != _order(a, "b")
    # ids are random and opaque: the same image gets a new id in another study
    assert not {i["public_id"] for i in _items(a)} & {i["public_id"] for i in _items(b)}


def test_storage_order_does_not_group_sources(tmp_path: Path) -> None:
    db_path, _ = make_study(tmp_path, n_per_class=6)
    sources = [i["source"] for i in _items(db_path)]
    runs = 1 + sum(a != b for a, b in itertools.pairwise(sources))
    assert runs > 4  # grouped by source would be 2 runs; random 24 items average 13


def test_images_share_one_size_and_reals_keep_their_pixels(tmp_path: Path) -> None:
    db_path, info = make_study(tmp_path)  # reals are 16 px, synthetic 24 px JPEGs
    assert info.size_px == 16
    conn = db.open_study(db_path)
    for row in conn.execute("SELECT source, origin_path, data FROM items"):
        pixels = decode(row["data"])
        assert pixels.shape == (16, 16, 3)
        if row["source"] == "real":  # PNG at the shown size: re-encoding is lossless
            original = np.asarray(Image.open(tmp_path / "ds" / row["origin_path"]).convert("RGB"))
            assert np.array_equal(pixels, original)
    small, _ = make_study(tmp_path / "small", size_px=12)
    assert decode(db.open_study(small).execute("SELECT data FROM items").fetchone()[0]).shape == (
        12,
        12,
        3,
    )


def test_existing_database_needs_force(tmp_path: Path, inputs) -> None:
    ds, syn = inputs
    cfg = StudyConfig(n_per_class=2, raters=["a"])
    first = run_create(ds, syn, tmp_path / "s.sqlite", cfg)
    with pytest.raises(OutputExistsError, match="already exists"):
        run_create(ds, syn, tmp_path / "s.sqlite", cfg)
    assert db.get_meta(db.open_study(first.db_path))["admin_token"] == first.admin_token
    second = run_create(ds, syn, tmp_path / "s.sqlite", cfg, force=True)
    assert second.admin_token != first.admin_token
    assert db.get_meta(db.open_study(second.db_path))["admin_token"] == second.admin_token


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_per_class": 7}, "has only 6 melanoma image"),
        ({"n_per_class": 2, "split": "val"}, "no images in split 'val'"),
        ({"n_per_class": 2, "classes": ["seborrheic_keratosis"]}, "only 0 synthetic"),
        ({"n_per_class": 2, "classes": ["wart"]}, "class 'wart' is not one of"),
        ({"n_per_class": 2, "raters": ["a", "a"]}, "rater names must be unique"),
    ],
)
def test_bad_requests_are_one_line_errors_and_write_nothing(
    tmp_path: Path, inputs, kwargs: dict, message: str
) -> None:
    ds, syn = inputs
    with pytest.raises(DataError, match=message) as exc:
        run_create(ds, syn, tmp_path / "out" / "s.sqlite", StudyConfig(**kwargs))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_real_images_the_gan_saw_are_never_shown(tmp_path: Path, inputs) -> None:
    ds, syn = inputs
    from lesiongan.data.manifest import load_dataset

    test_rows = load_dataset(ds).split_rows("test")
    seen = [r for r in test_rows if r.label == "melanoma"][:2]
    with open(syn / "gan_train_images.csv", "a") as f:
        f.writelines(f"{r.image_id},{r.label},{r.source_sha256}\n" for r in seen)
    with pytest.raises(DataError, match=r"only 4 melanoma .* \(2 dropped as GAN training"):
        run_create(ds, syn, tmp_path / "s.sqlite", StudyConfig(n_per_class=5))
    info = run_create(ds, syn, tmp_path / "s.sqlite", StudyConfig(n_per_class=4))
    shown = {i["origin_id"] for i in _items(info.db_path)}
    assert not shown & {r.image_id for r in seen}
    assert db.get_meta(db.open_study(info.db_path))["real_excluded_gan_train"] == 2


def test_database_is_never_written_into_an_input(inputs) -> None:
    ds, syn = inputs
    with pytest.raises(DataError, match="must not be written into the input"):
        run_create(ds, syn, ds / "study.sqlite", StudyConfig(n_per_class=2))
    assert not (ds / "study.sqlite").exists()


def test_invite_adds_raters_with_their_own_order(tmp_path: Path) -> None:
    db_path, _ = make_study(tmp_path, raters=["alice"])
    (carol,) = run_invite(db_path, ["carol"])
    assert len(carol.token) >= 32
    assert sorted(_order(db_path, "carol")) == sorted(_order(db_path, "alice"))
    with pytest.raises(DataError, match="already exists"):
        run_invite(db_path, ["alice"])


def test_make_synthetic_is_a_valid_synthetic_directory(inputs) -> None:
    from lesiongan.data.synthetic import load_synthetic

    _, syn = inputs
    assert load_synthetic(syn).counts() == {"melanoma": 6, "nevus": 6}
