"""Experiments over many classifier runs (imbalance, scarcity) and their HTML report."""
