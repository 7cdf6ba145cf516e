"""Command groups whose implementation has not landed yet: they say so instead of failing oddly."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from lesiongan.errors import NotAvailableYet


@dataclass(frozen=True)
class PendingGroup:
    name: str
    summary: str
    issue: int
    commands: tuple[str, ...]


GROUPS = (
    PendingGroup(
        "classify",
        "Train and evaluate a lesion classifier on real + synthetic images.",
        4,
        ("train",),
    ),
    PendingGroup(
        "experiment",
        "Run the imbalance and scarcity experiments and build the report.",
        5,
        ("imbalance", "scarcity"),
    ),
    PendingGroup(
        "turing",
        "Visual Turing test: a web app in which clinicians judge real vs synthetic.",
        7,
        ("create", "serve", "results"),
    ),
)


def build_group(group: PendingGroup) -> typer.Typer:
    note = f"(not available yet: lands with issue #{group.issue})"
    sub = typer.Typer(
        help=f"{group.summary} {note}", no_args_is_help=False, invoke_without_command=True
    )

    def _fail(name: str) -> None:
        raise NotAvailableYet(
            f"'lesiongan {name}' is not available yet: it lands with issue #{group.issue}"
        )

    @sub.callback(invoke_without_command=True)
    def _group(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            _fail(group.name)

    def _make(cmd: str):
        def _command(ctx: typer.Context) -> None:
            _fail(f"{group.name} {cmd}")

        return _command

    for cmd in group.commands:
        sub.command(
            cmd,
            help=note,
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_make(cmd))
    return sub
