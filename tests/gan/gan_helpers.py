"""Helpers for the GAN tests (imported by name: tests/gan is on sys.path while they run)."""

from __future__ import annotations

from pathlib import Path

import torch

from lesiongan.config import load_config
from lesiongan.gan.config import GanConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "gan-tiny.yaml"


def tiny_config(**overrides: object) -> GanConfig:
    return load_config(GanConfig, TINY, overrides)


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
