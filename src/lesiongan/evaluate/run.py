"""Entry points of ``lesiongan eval``: one ``run_*`` per command, each with its config."""

from __future__ import annotations

from lesiongan.evaluate.run_hair import HairConfig, run_hair
from lesiongan.evaluate.run_memorization import MemorizationConfig, run_memorization
from lesiongan.evaluate.run_realism import RealismConfig, run_realism
from lesiongan.evaluate.run_structures import StructuresConfig, run_structures

__all__ = [
    "HairConfig",
    "MemorizationConfig",
    "RealismConfig",
    "StructuresConfig",
    "run_hair",
    "run_memorization",
    "run_realism",
    "run_structures",
]
