"""Benchmark scripts; run each with `python -m bench.NAME` from the repository root (docs/benchmarks.md)."""
