"""Benchmarks: scripts that print their figures (run them with make bench-*)."""
