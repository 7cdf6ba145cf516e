"""The life of a stage's output directory, decided in one place for every stage.

Every stage (``data synth|prepare``, ``gan train|sample``, ``classify train``, ``eval *``, an
experiment and its cells, the demo) writes one directory holding its resolved ``config.yaml``.
:func:`open_stage` decides what to do with that directory before any work starts:

============================================  =============================================
the directory ...                              outcome
============================================  =============================================
does not exist                                 ``new``
exists, ``force``, written by lesiongan        ``new`` (replaced when the new one is complete)
exists, ``force``, anything else               one-line error naming what it holds
exists, the current directory or a parent      one-line error, even with ``force``
exists, same config, finished                  ``done``: reuse it, nothing to compute
exists, same config, unfinished (resumable)    ``resume`` from its last state file
exists, other config                           one-line error naming the keys that differ
exists, no readable ``config.yaml``            one-line error (not this stage's output)
overlaps an input (either way round)           one-line error, even with ``force``
============================================  =============================================

"Same config" is one rule: the saved YAML is validated into the stage's config class (so keys
added to the class since, with their defaults, do not count as a change) and compared with the
requested config key by key. On resume, keys the user changes on purpose (``--set``) may differ
(``may_change``); the directory's ``config.yaml`` is then rewritten to what runs from now on.

Non-resumable stages write their directory atomically (:func:`atomic_output_dir`), so an
existing directory is a finished one. Resumable stages (GAN and classifier training,
experiments) keep ``status.json`` (:mod:`lesiongan.utils.status`) and self-describing state
files (:mod:`lesiongan.utils.state`).

Temporary siblings left by a killed process (``.NAME.tmp-PID-…``) are removed when their
process is gone.

Every stage runs this preamble through :func:`begin_stage` (the decision, the refusals that
follow from ``--resume``) and writes through the :class:`StageRun` it returns: ``write()``
(atomic, adds ``config.yaml`` and ``provenance.json``), ``status()``, ``continued()``. A stage
whose output is one file (a Turing study) runs :func:`begin_file_stage`. No stage decides
about its output itself.

``--force`` replaces only what lesiongan wrote, and one process at a time writes a directory:
both rules live in :mod:`lesiongan.utils.outdir` (:func:`check_replaceable`,
:func:`stage_lock`). A resumable stage holds :func:`stage_lock` for its whole run, around
:func:`open_stage`; :func:`atomic_output_dir` holds it while it writes. :func:`write_status`
records the directory's entries so that a later ``--force`` knows them as the stage's own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lesiongan.config import save_config
from lesiongan.errors import DataError, LesionganError, OutputExistsError
from lesiongan.utils.outdir import (
    atomic_output_dir,
    check_output_dir,
    check_overlap,
    check_replaceable,
    remove_stale_temporaries,
    stage_lock,
    write_text_atomic,
)
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.status import locked_stage, read_status, write_status

log = logging.getLogger(__name__)

NEW, RESUME, DONE = "new", "resume", "done"
CONFIG_FILE = "config.yaml"
C = TypeVar("C", bound=BaseModel)

__all__ = [
    "DONE",
    "NEW",
    "RESUME",
    "ConfigChangedError",
    "Stage",
    "StageRun",
    "atomic_output_dir",
    "begin_file_stage",
    "begin_stage",
    "config_diff",
    "locked_stage",
    "open_stage",
    "read_status",
    "stage_lock",
    "write_status",
]


class ConfigChangedError(OutputExistsError):
    """An existing stage directory was made with other settings."""


@dataclass
class Stage:
    """What :func:`open_stage` decided for ``path``."""

    path: Path
    state: str  # NEW, RESUME or DONE
    changed: list[str] = field(default_factory=list)  # keys changed on purpose on resume

    @property
    def is_new(self) -> bool:
        return self.state == NEW

    @property
    def is_done(self) -> bool:
        return self.state == DONE


def config_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted keys whose values differ between two config dumps (sorted)."""
    keys: list[str] = []
    for k in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(k), current.get(k)
        name = f"{prefix}{k}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys += config_diff(a, b, f"{name}.")
        elif a != b:
            keys.append(name)
    return keys


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def describe_diff(keys: list[str], saved: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    """``a.b (saved 1, now 2), c (…)``: at most three keys spelled out."""
    parts = [f"{k} (saved {_get(saved, k)!r}, now {_get(current, k)!r})" for k in keys[:3]]
    if len(keys) > 3:
        parts.append(f"and {len(keys) - 3} more")
    return ", ".join(parts)


def read_saved_config(path: Path, cls: type[C]) -> C | None:
    """The config saved in a stage directory, validated into ``cls``; None when unreadable."""
    try:
        data = yaml.safe_load((Path(path) / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError, TypeError):
        return None


def open_stage(
    out: Path,
    config: BaseModel,
    inputs: Iterable[Path] = (),
    *,
    force: bool = False,
    resumable: bool = False,
    may_change: Iterable[str] = (),
    done_files: Iterable[str] = (),
) -> Stage:
    """Decide NEW / RESUME / DONE for ``out`` (see the module docstring); raise when refused.

    ``done_files``: files a finished directory must hold besides ``status.json``'s ``done``.
    ``may_change``: dotted keys (or their parents) allowed to differ on RESUME.
    """
    out = Path(out)
    inputs = list(inputs)
    check_overlap(out, inputs)  # refused even with force
    remove_stale_temporaries(out)
    if not (out.exists() or out.is_symlink()):
        return Stage(out, NEW)
    if not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    if force:
        check_replaceable(out)
        return Stage(out, NEW)
    saved = read_saved_config(out, type(config))
    if saved is None:
        raise OutputExistsError(
            f"{out}: exists but holds no readable {CONFIG_FILE} of this stage; "
            "use --force to replace it, or another output directory"
        )
    a, b = saved.model_dump(mode="json"), config.model_dump(mode="json")
    diff = config_diff(a, b)
    finished = not resumable or (
        read_status(out).get("state") == DONE and all((out / f).is_file() for f in done_files)
    )
    allowed = [k for k in diff if resumable and _allowed(k, may_change)]
    refused = [k for k in diff if k not in allowed]
    if refused:
        raise ConfigChangedError(
            f"{out}: exists with other settings: {describe_diff(refused, a, b)}; "
            "use --force to redo it, or another output directory"
        )
    # a finished run whose keys are changed on purpose (e.g. a longer schedule) continues
    return Stage(out, DONE if finished and not allowed else RESUME, allowed)


def _allowed(key: str, may_change: Iterable[str]) -> bool:
    return any(key == m or key.startswith(m + ".") for m in may_change)


def rewrite_config(out: Path, config: BaseModel) -> None:
    """Replace ``config.yaml`` atomically (after a resume that changed keys on purpose)."""
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    write_text_atomic(Path(out) / CONFIG_FILE, text)


# -- the preamble every stage runs -----------------------------------------------------------


@dataclass
class StageRun:
    """One run of a stage on its output directory, made by :func:`begin_stage`: what
    :func:`open_stage` decided, then the writing (:meth:`write`, :meth:`status`)."""

    decision: Stage
    config: BaseModel | None
    name: str  # provenance.json's "stage", e.g. "eval realism"
    inputs: list[Path]
    force: bool
    provenance: dict[str, Any] = field(default_factory=dict)  # provenance.json's "inputs"

    @property
    def path(self) -> Path:
        return self.decision.path

    @property
    def state(self) -> str:
        return self.decision.state

    @property
    def is_new(self) -> bool:
        return self.decision.is_new

    @property
    def is_done(self) -> bool:
        return self.decision.is_done

    @property
    def changed(self) -> list[str]:
        return self.decision.changed

    @contextlib.contextmanager
    def write(self) -> Iterator[Path]:
        """Yield a temporary directory; when the block succeeds, add ``config.yaml`` and
        ``provenance.json`` (set :attr:`provenance` in the block) and rename it to the output
        (:func:`atomic_output_dir`). A non-resumable stage writes its whole output here, a
        resumable one the files it starts with."""
        with atomic_output_dir(self.path, self.inputs, self.force) as tmp:
            yield tmp
            if self.config is not None:
                save_config(self.config, tmp / CONFIG_FILE)
            save_provenance(tmp, self.name, self.provenance)

    def continued(self) -> None:
        """A resumed run whose keys changed on purpose records what runs from now on."""
        if self.changed and self.config is not None:
            rewrite_config(self.path, self.config)

    def status(self, state: str, **fields: Any) -> None:
        """``status.json`` of a resumable stage (:func:`write_status`)."""
        write_status(self.path, state, **fields)


def begin_stage(
    out: Path,
    config: BaseModel | None,
    inputs: Iterable[Path] = (),
    *,
    name: str,
    force: bool = False,
    reuse: bool = True,
    resumable: bool = False,
    resume: bool | None = False,
    may_change: Iterable[str] = (),
    done_files: Iterable[str] = (),
    check: Callable[[Path], None] | None = None,
) -> StageRun:
    """The preamble of every stage, before its work: the decision on ``out``
    (:func:`open_stage`) and the refusals that follow from it; raise when refused.

    ``reuse=False``: a stage whose input changes under it (the results of a live study): an
    existing output is refused without ``force``, whatever config made it.
    ``resume`` (resumable stages): False = a new run (an equal finished one is reused, an
    unfinished one refused), True = continue an existing run (refused when there is none),
    None = whatever the directory needs (experiments).
    ``check``: called with ``out`` when it exists and is to be reused or resumed (e.g. that it
    was made from the same data), before an unfinished run is refused.
    """
    out, inputs = Path(out), list(inputs)
    if reuse and config is not None:
        decision = open_stage(
            out,
            config,
            inputs,
            force=force,
            resumable=resumable,
            may_change=may_change,
            done_files=done_files,
        )
    else:
        check_output_dir(out, inputs, force)
        remove_stale_temporaries(out)
        decision = Stage(out, NEW)
    if resume and decision.is_new and not force:
        raise LesionganError(f"{out}: nothing to resume (no such run); drop --resume to start one")
    if not decision.is_new and check is not None:
        check(out)
    if decision.state == RESUME and resume is False:
        raise OutputExistsError(
            f"{out}: holds an unfinished run with this config; add --resume to continue it, "
            "or --force to start again"
        )
    return StageRun(decision, config, name, inputs, force)


def begin_file_stage(
    path: Path,
    inputs: Iterable[Path] = (),
    *,
    force: bool = False,
    what: str,
    option: str,
    check_ours: Callable[[Path], None],
) -> Stage:
    """The preamble of a stage whose output is one file (``what``, given as ``option``): always
    ``new``, as the file changes after it is made (a study collects answers). An existing file
    is replaced only with ``force`` and when ``check_ours`` (which raises) lets it; the file is
    never written into an input."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; {option} is the {what} file to create")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists (use --force to replace it)")
    if path.exists():
        check_ours(path)
    for inp in inputs:
        if Path(inp).resolve() in path.resolve().parents:
            raise DataError(f"{path}: the {what} must not be written into the input {inp}")
    return Stage(path, NEW)
