"""Judging: confidence bounds and the verdicts they support."""
