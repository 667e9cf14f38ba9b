"""Spec language v1: pydantic models and a YAML loader that keeps line/column marks."""

from .load import load_spec, parse_spec
from .model import Reference, Requirement, Sampling, Spec, Subject

__all__ = ["Spec", "Subject", "Sampling", "Requirement", "Reference", "load_spec", "parse_spec"]
