"""The ``lesiongan`` entry point: command groups and error handling."""

from __future__ import annotations

import errno
import inspect
import logging
import os
import signal
import threading

import typer

import lesiongan
from lesiongan.cli import classify as classify_cmds
from lesiongan.cli import data as data_cmds
from lesiongan.cli import demo as demo_cmds
from lesiongan.cli import eval as eval_cmds
from lesiongan.cli import experiment as experiment_cmds
from lesiongan.cli import gan as gan_cmds
from lesiongan.cli import turing as turing_cmds
from lesiongan.cli.console import err, print_problems
from lesiongan.cli.report import report
from lesiongan.errors import LesionganError, ProblemsFound

app = typer.Typer(
    name="lesiongan",
    help=(
        "GAN-synthesized training images against label scarcity and class imbalance in "
        "dermoscopy classification.\n\n"
        "Pipeline: data synth/prepare -> gan train -> gan sample -> classify train -> eval -> "
        "experiment. Every stage reads directories written by earlier stages and writes a new one."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_cmds.app, name="data")
app.add_typer(gan_cmds.app, name="gan")
app.add_typer(classify_cmds.app, name="classify")
app.add_typer(experiment_cmds.app, name="experiment")
app.command("report")(report)
app.add_typer(turing_cmds.app, name="turing")
app.add_typer(eval_cmds.app, name="eval")
app.command("demo")(demo_cmds.demo)


def _unwrap(doc: str) -> str:
    """A docstring's prose without its source line breaks, so that help reflows to any terminal
    width (typer's rich help keeps single line breaks after the first paragraph). An indented
    line is an example command: it stays one line, shown as ``$ command`` (typer dedents the
    help text, which would leave it indistinguishable from the prose)."""
    lines: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if line.startswith((" ", "\t")) and line.strip():
            if lines and lines[-1].startswith("$ ") and lines[-1].endswith("\\"):
                lines[-1] = f"{lines[-1][:-1].rstrip()} {line.strip()}"  # a continued command
            else:
                lines.append(f"$ {line.strip()}")
        elif line.strip() and lines and lines[-1].strip() and not lines[-1].startswith("$ "):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


def _unwrap_command_help(group: typer.Typer) -> None:
    for info in group.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _unwrap(info.callback.__doc__)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _unwrap_command_help(sub.typer_instance)


_unwrap_command_help(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lesiongan {lesiongan.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log library messages (INFO) to stderr."
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (the console script passes it to ``sys.exit``).

    Usage errors, ``--help`` and Ctrl-C are handled by typer/click as usual (exit 2, 0, 1);
    LesionganError becomes one line on stderr with its exit code, and so does an OSError that
    the environment causes (permission denied, read-only or full disk, a file in the way).
    SIGTERM (``kill``, a batch system's time limit) is handled as Ctrl-C is: the stages stop
    their worker processes and keep what finished; exit 143.
    """
    terminated = threading.Event()
    before = _on_sigterm(terminated)
    try:
        app(args=argv, prog_name="lesiongan")
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a silent exit 130
            _interrupted()
            return 143 if terminated.is_set() else 130
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ProblemsFound as exc:
        print_problems(exc.problems)
        err.print(f"lesiongan: error: {exc}", markup=False)
        return exc.exit_code
    except LesionganError as exc:
        err.print(f"lesiongan: error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        _interrupted()
        return 143 if terminated.is_set() else 130
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise  # anything else is a bug and keeps its traceback
        err.print(f"lesiongan: error: {_describe_os_error(exc)}", markup=False)
        return 1
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)
    return 0


def _on_sigterm(terminated: threading.Event) -> signal.Handlers | None:
    """Turn SIGTERM into KeyboardInterrupt in this (main) thread, so that every stage's Ctrl-C
    path runs: a process pool stops its workers instead of leaving them orphaned, locks are
    released, finished outputs stay. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: object) -> None:
        terminated.set()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)  # type: ignore[return-value]


# The machine's fault, not the program's: a read-only, full or missing location, a file where
# a directory should be, a port in use. Shown as one line naming the file, like a LesionganError.
_ENVIRONMENT_ERRNOS = {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO,
    errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP,
    errno.EMFILE, errno.ENFILE, errno.EADDRINUSE, errno.EADDRNOTAVAIL,
}  # fmt: skip


def _describe_os_error(exc: OSError) -> str:
    problem = exc.strerror or str(exc)
    if exc.filename is None:
        return problem
    return f"{os.fsdecode(exc.filename)}: {problem}"


def _interrupted() -> None:
    err.print(
        "lesiongan: interrupted (finished outputs and checkpoints are kept, and --resume or "
        "running an experiment again continues; a stage's partial output is not kept)",
        markup=False,
    )
