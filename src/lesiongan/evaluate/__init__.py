"""Audits of synthetic images: realism, memorization and hair (``lesiongan eval ...``)."""
