"""The GAN and sampling stages of an experiment (and the demo), with progress callbacks.

Whether a stage directory is new, resumed or reused is decided by
:func:`lesiongan.utils.stage.open_stage` inside each stage; these helpers only connect the
stages to an experiment's progress display.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

StageFn = Callable[[str], contextlib.AbstractContextManager[Callable[..., None]]]


def ensure_gan(dataset: Path, run: Path, cfg: Any, force: bool, stage: StageFn) -> bool:
    """Train the GAN into ``run``, resume it when interrupted, reuse it when done (True)."""
    from lesiongan.gan.run import run_training

    with stage("gan") as progress:
        result = run_training(dataset, run, cfg, resume=None, force=force, progress=progress)
    return result.reused


def ensure_sample(gan_run: Path, out: Path, cfg: Any, force: bool, stage: StageFn) -> bool:
    """Sample into ``out`` unless an equal finished sample is there (True when reused)."""
    from lesiongan.classify.scorer import load_classifier_scorer
    from lesiongan.gan.sample import run_sample

    with stage("sample") as progress:
        result = run_sample(
            gan_run, out, cfg, force=force, progress=progress, scorer_loader=load_classifier_scorer
        )
    return result.reused


def balance_counts(counts: dict[str, int]) -> dict[str, int]:
    """Synthetic images per class that bring every class up to the largest (the poster's idea)."""
    top = max(counts.values())
    return {c: top - n for c, n in counts.items() if top - n > 0}


@contextlib.contextmanager
def no_progress(_name: str) -> Iterator[Callable[..., None]]:
    yield lambda *a, **k: None
