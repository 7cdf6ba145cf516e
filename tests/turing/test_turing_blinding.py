"""Blinding: the served bytes and headers must not separate real from synthetic images.

The inputs are built to be easy to tell apart from their files: reals are noisy PNGs, synthetic
images smooth JPEGs at another size carrying EXIF and a comment. After re-encoding, every image
is served with the same byte length and the same headers.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turing_helpers import make_study, png_chunks

from lesiongan.turing import db
from lesiongan.turing.app import build_app


def best_threshold_accuracy(sizes: list[int], is_synthetic: list[bool]) -> float:
    """Accuracy of the best rule "synthetic iff size <= t" (or >= t) on the data itself."""
    best = 0.0
    n = len(sizes)
    for t in sorted(set(sizes)):
        below = sum((s <= t) == y for s, y in zip(sizes, is_synthetic)) / n
        best = max(best, below, 1 - below)
    return best


@pytest.fixture
def served(tmp_path: Path):
    db_path, info = make_study(tmp_path, n_per_class=6, raters=["alice"])
    client = TestClient(build_app(db_path))
    token = info.raters[0].token
    truth = {i["public_id"]: i for i in db.load_items(db.open_study(db_path))}
    responses = {pid: client.get(f"/r/{token}/image/{pid}") for pid in truth}
    return tmp_path, truth, responses


def test_raw_inputs_would_give_the_sources_away(served) -> None:
    tmp_path, truth, _ = served
    sizes, labels = [], []
    for item in truth.values():
        root = tmp_path / ("ds" if item["source"] == "real" else "syn")
        sizes.append((root / item["origin_path"]).stat().st_size)
        labels.append(item["source"] == "synthetic")
    assert best_threshold_accuracy(sizes, labels) == 1.0  # the test below is not vacuous


def test_served_sizes_do_not_separate_the_sources(served) -> None:
    _, truth, responses = served
    sizes = [len(r.content) for r in responses.values()]
    labels = [truth[pid]["source"] == "synthetic" for pid in responses]
    assert all(r.status_code == 200 for r in responses.values())
    assert len(set(sizes)) == 1  # stored PNG: the byte length depends on the pixel count only
    assert best_threshold_accuracy(sizes, labels) <= 0.5 + 1e-9


def test_served_headers_are_identical(served) -> None:
    _, _, responses = served
    header_sets = {tuple(sorted(r.headers.items())) for r in responses.values()}
    assert len(header_sets) == 1
    headers = dict(next(iter(header_sets)))
    assert headers["content-type"] == "image/png" and headers["cache-control"] == "no-store"
    assert not {"etag", "last-modified", "content-disposition"} & set(headers)


def test_served_images_carry_no_metadata(served) -> None:
    _, truth, responses = served
    for pid, r in responses.items():
        chunks = png_chunks(r.content)
        assert chunks[0] == "IHDR" and chunks[-1] == "IEND"
        assert set(chunks[1:-1]) == {"IDAT"}, chunks  # no tEXt/iTXt/zTXt/eXIf/gAMA/pHYs/tIME
        for give_away in (b"Exif", b"lesiongan", b"synthetic", b"JFIF"):
            assert give_away not in r.content
        assert truth[pid]["origin_id"] not in pid  # the id is opaque


def test_ids_and_order_do_not_group_sources(served) -> None:
    _, truth, _ = served
    ids = sorted(truth)  # if ids encoded the source, sorting would group them
    sources = [truth[i]["source"] for i in ids]
    assert 1 + sum(a != b for a, b in itertools.pairwise(sources)) > 3  # P(<= 3) ~ 1e-5
    assert len({len(i) for i in ids}) == 1
