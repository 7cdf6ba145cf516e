"""``--help`` of every command: prose reflows to the terminal width (no line breaks from the
source) and every option with a default shows it."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import typer

from lesiongan.cli.app import app


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    found = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            found.append((path, cmd))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()
IDS = [" ".join(path) for path, _ in COMMANDS]


@pytest.fixture
def wide_help(cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")

    def run(path: tuple[str, ...]) -> list[str]:
        code, out, err = cli(*path, "--help")
        assert code == 0, err
        return [ln.rstrip() for ln in out.splitlines()]

    return run


def test_every_command_is_found() -> None:
    assert len(COMMANDS) >= 17 and ("gan", "train") in [p for p, _ in COMMANDS]


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_help_prose_reflows_at_200_columns(wide_help, path, cmd) -> None:
    lines = wide_help(path)
    start = next(i for i, ln in enumerate(lines) if "Usage:" in ln) + 1
    end = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("╭")), len(lines))
    prose = lines[start:end]
    for this, following in itertools.pairwise(prose):
        if this.strip() and following.strip() and not following.lstrip().startswith("$ "):
            # a paragraph continues on the next line only when this one is full
            assert len(this) > 150, f"hard-wrapped help in {' '.join(path)}:\n{this}\n{following}"


def test_a_long_docstring_paragraph_is_one_line_at_200_columns(wide_help) -> None:
    lines = wide_help(("gan", "train"))
    assert any(
        "fade-ins; WGAN-GP (or logistic + R1); DiffAugment with adaptive strength; G_ema" in ln
        for ln in lines
    )
    assert any(
        ln.strip().startswith("$ lesiongan gan train demo-out/dataset --out gan-run")
        for ln in lines
    )


def _shows_default(param: Any) -> bool:
    """Options whose default is worth showing: not None, not an off-by-default flag, not an
    empty repeatable option."""
    if param.param_type_name != "option" or param.name == "help" or param.default is None:
        return False
    if param.is_flag and not param.default:
        return False
    return not (param.multiple and not param.default)


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_every_option_with_a_default_shows_it(wide_help, path, cmd) -> None:
    lines = wide_help(path)
    row_start = re.compile(r"^│\s{1,6}(\*\s+)?(-[-\w]+)")  # not a wrapped line
    rows: dict[str, str] = {}
    current = None
    for ln in lines:
        m = row_start.match(ln)
        if m:
            current = m.group(2)
            rows[current] = ln
        elif current and ln.startswith("│"):
            rows[current] += " " + ln
        elif not ln.startswith("│"):
            current = None
    for param in cmd.params:
        if not _shows_default(param):
            continue
        assert param.show_default is not False, f"{param.opts[0]} hides its default"
        assert "[default: " in rows.get(param.opts[0], ""), (
            f"{' '.join(path)} {param.opts[0]}: default {param.default!r} not shown"
        )
