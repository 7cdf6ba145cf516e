"""Reuse of finished stage outputs: a stage directory is reused when its saved config matches."""

from __future__ import annotations

from pathlib import Path

import yaml

from lesiongan.config import Config
from lesiongan.errors import OutputExistsError


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
