"""Classifier stage: models, sampling strategies, training and test-set metrics."""
