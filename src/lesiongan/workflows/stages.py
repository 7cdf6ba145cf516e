"""Reuse of finished stage outputs: a stage directory is reused when its saved config matches."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lesiongan.config import Config
from lesiongan.errors import OutputExistsError

StageFn = Callable[[str], contextlib.AbstractContextManager[Callable[..., None]]]


def is_reusable(out: Path, config: Config, force: bool = False) -> bool:
    """True when ``out`` holds a finished run of the same config; False when it must be (re)made.

    A finished output written with other settings is an error unless ``force`` (then it is
    replaced). Outputs are atomic, so an existing directory is always a finished one.
    """
    out = Path(out)
    if not out.exists():
        return False
    if force:
        return False
    saved_path = out / "config.yaml"
    try:
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        saved = None
    if saved == config.model_dump(mode="json"):
        return True
    raise OutputExistsError(
        f"{out}: exists but was made with other settings (see {saved_path}); use --force to redo it"
    )


def run_state(run: Path) -> str | None:
    """``status.json``'s state of a GAN or classifier run (None when it has none)."""
    path = Path(run) / "status.json"
    try:
        return json.loads(path.read_text()).get("state") if path.is_file() else None
    except (OSError, ValueError):
        return None


def ensure_gan(dataset: Path, run: Path, cfg: Any, force: bool, stage: StageFn) -> bool:
    """Train the GAN into ``run``, resume it when interrupted, reuse it when done (True)."""
    from lesiongan.gan.checkpoint import list_checkpoints
    from lesiongan.gan.run import run_training

    resume = False
    if run.exists() and not force:
        is_reusable(run, cfg)  # raises when made with other settings
        if run_state(run) == "done":
            return True
        # an interrupted run continues from its last checkpoint; one without any starts again
        resume = bool(list_checkpoints(run))
    with stage("gan") as progress:
        run_training(dataset, run, cfg, resume=resume, force=not resume, progress=progress)
    return False


def ensure_sample(gan_run: Path, out: Path, cfg: Any, force: bool, stage: StageFn) -> bool:
    """Sample into ``out`` unless an equal finished sample is there (True when reused)."""
    from lesiongan.gan.sample import run_sample

    if is_reusable(out, cfg, force):
        return True
    with stage("sample") as progress:
        run_sample(gan_run, out, cfg, force=force or out.exists(), progress=progress)
    return False


def balance_counts(counts: dict[str, int]) -> dict[str, int]:
    """Synthetic images per class that bring every class up to the largest (the poster's idea)."""
    top = max(counts.values())
    return {c: top - n for c, n in counts.items() if top - n > 0}


@contextlib.contextmanager
def no_progress(_name: str) -> Iterator[Callable[..., None]]:
    yield lambda *a, **k: None
