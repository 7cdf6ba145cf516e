"""Where the CLI talks to people: rich consoles, progress bars, problem lists."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lesiongan.utils.parallel import ProgressFn

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Rate(TextColumn):
    """Items per second over the whole task (steadier than rich's windowed speed)."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return f"{rate:6.1f} {self.unit}/s"


@contextlib.contextmanager
def progress_bar(description: str, unit: str = "img") -> Iterator[ProgressFn]:
    """A progress bar on stderr; yields the ``progress(done, total)`` callback library code takes.

    The bar appears at the first callback, so a stage that fails while checking its inputs
    prints only its error line.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=err, transient=False)
    task = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task(description, total=total)
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            progress.stop()


def print_problems(problems: Sequence[object], limit: int | None = None) -> None:
    """Every problem on its own line on stderr (the file first, then what is wrong)."""
    shown = problems if limit is None else problems[:limit]
    for p in shown:
        err.print(f"  {p}", markup=False)
    if limit is not None and len(problems) > limit:
        err.print(f"  ... and {len(problems) - limit} more", markup=False)
