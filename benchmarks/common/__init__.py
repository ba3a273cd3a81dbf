"""Shared by the benchmarks: baselines, the hybrid router, embeddings, feedback, plots."""
