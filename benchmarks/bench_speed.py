"""Thin wrapper: `python benchmarks/bench_speed.py --data ../shared/data/routerdc [...]` = `ir3de bench speed`.

The benchmark itself lives in `ir3de_core.bench` so that `ir3de bench speed` works from an
installed package; see docs/benchmarks.md for the options and the results.
"""

from __future__ import annotations

import sys

from ir3de_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))
