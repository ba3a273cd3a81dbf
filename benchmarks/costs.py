"""Thin wrapper: `python benchmarks/costs.py --data ../shared/data [...]` = `ir3de bench costs`.

Cost–quality curves and AIQ on RouterBench, the unseen-LLM protocol (UniRoute and the ridge
router's add_expert) on RouterBench and RouterDC, and an online-feedback replay. The benchmark
lives in `ir3de_core.bench.costs`; docs/benchmarks.md has the options and the results.
"""

from __future__ import annotations

import sys

from ir3de_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "costs", *sys.argv[1:]]))
