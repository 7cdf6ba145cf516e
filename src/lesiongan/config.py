"""Typed configuration: YAML files plus ``key=value`` overrides, unknown keys are errors.

Every config is a pydantic model deriving from :class:`Config` (``extra="forbid"``), so a typo in
a YAML file or an override fails loudly instead of being ignored. Overrides use dotted keys
(``--set schedule.batch_size=16``) and YAML syntax for values (``[8, 16]``, ``true``, ``1e-3``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from lesiongan.errors import ConfigError

__all__ = [
    "SEED_LIMIT",
    "Config",
    "Seed",
    "apply_overrides",
    "load_config",
    "parse_overrides",
    "save_config",
]

C = TypeVar("C", bound="Config")
SEED_LIMIT = 2**32  # every seed: 0 <= seed < 2**32 (numpy's and torch's seeds take it whole)
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few kB; /dev/zero or a wrong file is refused


def _check_seed(value: int) -> int:
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"a seed is a whole number from 0 to {SEED_LIMIT - 1} (< 2**32)")
    return value


Seed = Annotated[int, AfterValidator(_check_seed)]


class Config(BaseModel):
    """Base class of every lesiongan config: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1, 2]"]`` into ``{"a.b": 1, "c": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"--set {item!r}: value is not valid YAML ({exc.__class__.__name__})"
            ) from None
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of ``data`` with dotted-key ``overrides`` set (nested dicts created)."""
    result = _deep_copy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {dotted}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def load_config(
    cls: type[C],
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    flags: Mapping[str, tuple[str, Any]] | None = None,
) -> C:
    """Build ``cls`` from ``defaults``, then the YAML file at ``path``, then ``overrides``, then
    ``flags`` (``{key: (option, value)}``, e.g. ``{"size": ("--size", 64)}``; a None value is
    left out). An error names the file, ``--set`` or the option that gave the bad value."""
    data: dict[str, Any] = _deep_copy(defaults or {})
    where = "config"
    if path is not None:
        where = str(path)
        data = _merge(data, read_yaml_mapping(path))
    if overrides:
        data = apply_overrides(data, overrides)
        where = f"{where} with --set" if path is not None else "--set"
    given = {k: v for k, v in (flags or {}).items() if v[1] is not None}
    if given:
        data = apply_overrides(data, {k: value for k, (_, value) in given.items()})
        where = "options" if where == "config" else where
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        options = {k: option for k, (option, _) in given.items()}
        raise ConfigError(_describe_errors(exc, where, options)) from None


def _describe_errors(exc: ValidationError, where: str, options: Mapping[str, str]) -> str:
    """One line; errors in values given by a command-line option name the option."""
    by_option, rest = [], []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if key in options and err["type"] != "extra_forbidden":
            by_option.append(f"{options[key]}: {_message(err)}")
        else:
            rest.append(err)
    if rest:
        by_option.append(f"{where}: {_format_errors(rest)}")
    return "; ".join(by_option)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MB; a config file is a short "
                "YAML text"
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {exc.start}); a config file is UTF-8 YAML"
        ) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{line}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys to values, got {type(loaded).__name__}"
        )
    return loaded


def save_config(config: BaseModel, path: Path) -> None:
    """Write the resolved config as YAML (paths and enums as plain strings)."""
    data = config.model_dump(mode="json")
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def format_validation_error(exc: ValidationError) -> str:
    """One line: every offending key with pydantic's reason."""
    return _format_errors(exc.errors())


def _format_errors(errors: Iterable[Any]) -> str:
    parts = []
    for err in errors:
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:  # a check across keys (a model validator) names them in its message
            parts.append(f"{key}: {_message(err)}" if key else _message(err))
    return "; ".join(parts)


def _message(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def _merge(base: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = _deep_copy(base)
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _deep_copy(value) if isinstance(value, Mapping) else value
    return out


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
