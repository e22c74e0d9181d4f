"""HTTP, persistence, workers and wiring: the only package that knows everything."""
