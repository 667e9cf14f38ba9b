"""Observation: features, classifier outputs, per-sample measurements and checks."""
