"""Hypothesis strategies for fixed-point verification (import in your own RTL tests)."""
