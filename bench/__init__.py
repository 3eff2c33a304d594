"""Benchmarks that print figures and ratios; run one with `python -m bench NAME`."""
