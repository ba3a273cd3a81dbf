"""Benchmarks of ir3de on public router data: quality (RouterDC's table) and speed."""

from ir3de_core.bench.quality import QualityOptions, run_quality

__all__ = ["QualityOptions", "run_quality"]
