"""Procedural lesions with their true hair masks, to validate the hair detector.

:func:`lesiongan.data.procedural.render_lesion` draws hairs as an antialiased coverage map and
reports only their mean coverage. This module renders the same image (same generator, same
random stream) while recording that map, and turns it into a mask at the output size: a pixel
is hair where the hairs cover at least ``min_coverage`` of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

from lesiongan.data import procedural


@contextlib.contextmanager
def _recording_hairs(store: list[np.ndarray]) -> Iterator[None]:
    original = procedural._hairs

    def record(rng, g):  # same draws as the original: the image is unchanged
        cov = original(rng, g)
        store.append(cov)
        return cov

    procedural._hairs = record
    try:
        yield
    finally:
        procedural._hairs = original


def render_with_hair_mask(
    label: str, seed: int, size_px: int, min_coverage: float = 0.5
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(uint8 size x size x 3 image, bool hair mask, attrs) of one square procedural lesion."""
    store: list[np.ndarray] = []
    with _recording_hairs(store):
        image, attrs = procedural.render_lesion(
            label, np.random.default_rng(seed), size_px, size_px
        )
    if not store:
        return image, np.zeros((size_px, size_px), bool), attrs
    cov = Image.fromarray(store[0].astype(np.float32)).resize((size_px, size_px), Image.BOX)
    return image, np.asarray(cov) >= min_coverage, attrs
