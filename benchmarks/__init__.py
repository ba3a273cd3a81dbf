"""Benchmarks of ir3de on the shared routing data (not installed; run from a clone with
``python -m benchmarks``)."""
