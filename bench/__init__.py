"""Benchmarks: run by `make bench` (full) and `make bench-quick` (seconds, a smoke test)."""
