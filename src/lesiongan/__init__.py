"""lesiongan: progressive GANs against label scarcity and class imbalance in medical imaging."""

from __future__ import annotations

__version__ = "0.1.0"
