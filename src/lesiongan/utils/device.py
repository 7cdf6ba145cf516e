"""Turning a device name from the command line into a torch.device, with clear errors."""

from __future__ import annotations

import torch

from lesiongan.errors import LesionganError


def resolve_device(spec: str, local_rank: int = 0, what: str = "--device") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    A bare ``cuda`` means this process's GPU under torchrun (``LOCAL_RANK``).
    """
    if spec == "auto":
        return (
            torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        )
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        raise LesionganError(
            f"{what}={spec!r}: not a device (use auto, cpu, cuda or cuda:N)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LesionganError(f"{what}={spec}: CUDA is not available on this machine (use cpu)")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
        if dev.index >= torch.cuda.device_count():
            raise LesionganError(
                f"{what}={spec}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    elif dev.type != "cpu":
        raise LesionganError(f"{what}={spec}: only cpu and cuda are supported")
    return dev
