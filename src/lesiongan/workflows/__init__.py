"""Multi-stage workflows built from the stages (the demo; later the experiments)."""
