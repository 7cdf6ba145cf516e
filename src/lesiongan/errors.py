"""Exceptions that the CLI turns into a one-line message and a non-zero exit code.

Library code raises these for problems caused by the user's input (a missing file, a corrupt
image, a bad config key). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class LesionganError(Exception):
    """A user-facing error; its message is one line that names the file and the problem."""

    exit_code = 1


class ConfigError(LesionganError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DataError(LesionganError):
    """Input data is missing, unreadable or inconsistent."""


class OutputExistsError(LesionganError):
    """An output directory exists and --force was not given (or may not replace it)."""


class InUseError(OutputExistsError):
    """Another process holds the output directory's lock (a run is writing into it)."""


class ProblemsFound(DataError):
    """Several data problems were found; each is one line in `problems`."""

    def __init__(self, summary: str, problems: Sequence[object]) -> None:
        super().__init__(summary)
        self.problems = list(problems)
