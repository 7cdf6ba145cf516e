"""The same seeds train and sample the same numbers as the code before the family registry.

``data/reference_runs.json`` holds the digests of three tiny runs (PGGAN with WGAN-GP, PGGAN
with lazy logistic R1, StyleGAN2 with path length regularization and transitional
conditioning) written by that code (``reference_runs.py``). A change in what a step draws, in
which order, or how a loss is computed moves these sums by far more than the tolerance, which
only absorbs float summation order on other CPUs (on the machine that wrote them the digests
are equal bit for bit: ``python tests/gan/reference_runs.py OUT.json REFERENCE.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reference_runs import CASES, REFERENCE, digest_case

TOL = {"rel": 1e-5, "abs": 1e-6}


@pytest.mark.parametrize("case", list(CASES))
def test_weights_and_samples_match_the_reference(
    case: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    want = json.loads(REFERENCE.read_text())[case]
    recipe, overrides = CASES[case]
    got = digest_case(tiny_dataset, tmp_path / case, recipe, overrides)
    assert got["cur_nimg"] == want["cur_nimg"]
    assert got["p"] == pytest.approx(want["p"], **TOL)
    for key in ("G", "D", "G_ema"):
        for stat in ("sum", "sum_sq"):
            assert got[key][stat] == pytest.approx(want[key][stat], **TOL), (key, stat)
    assert got["samples"]["sum"] == pytest.approx(want["samples"]["sum"], rel=1e-4)
    assert got["d_scores"] == pytest.approx(want["d_scores"], rel=1e-4, abs=1e-5)
    assert got["last_tick"] == pytest.approx(want["last_tick"], rel=1e-4, abs=1e-5)
