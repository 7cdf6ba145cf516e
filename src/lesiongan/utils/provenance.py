"""What produced an output directory: package version, git revision, command, inputs.

Written as ``provenance.json`` next to ``config.yaml`` in every output directory.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lesiongan

PROVENANCE_FILE = "provenance.json"


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Git commit of the lesiongan source tree (``+dirty`` when modified), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


def slurm_job_id() -> str | None:
    """The SLURM job this process runs in (``ARRAY_TASK`` form for array tasks), else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def build_provenance(stage: str, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of one stage run. ``inputs`` maps input names to fingerprints.

    Inside a SLURM job the record also holds ``slurm_job_id``.
    """
    record = {
        "stage": stage,
        "lesiongan_version": lesiongan.__version__,
        "git_revision": git_revision(),
        "command": sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": dict(inputs or {}),
    }
    job = slurm_job_id()
    if job:
        record["slurm_job_id"] = job
    return record


def save_provenance(out_dir: Path, stage: str, inputs: Mapping[str, Any] | None = None) -> None:
    record = build_provenance(stage, inputs)
    (Path(out_dir) / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
