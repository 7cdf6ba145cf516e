"""The command-line interface: one thin function per command (see DESIGN.md's CLI surface).

Library code raises :class:`~lesiongan.errors.LesionganError` for bad input; :func:`main` turns
it into one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from lesiongan.cli.app import app, main

__all__ = ["app", "main"]
