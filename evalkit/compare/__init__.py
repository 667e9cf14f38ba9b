"""Comparing finished runs: --baseline matching and regression annotation, and `evalkit compare`."""
