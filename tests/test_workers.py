"""The suite's own set-up: each pytest-xdist worker runs torch on one thread (``conftest.py``)."""

from __future__ import annotations

import os

import pytest


def test_xdist_workers_use_one_torch_thread() -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("not in a pytest-xdist worker: the setting applies to `pytest -n N` only")
    torch = pytest.importorskip("torch")
    # torch with 2 threads per worker thrashes a 2-core machine (DEVELOPERS.md)
    assert torch.get_num_threads() == 1
