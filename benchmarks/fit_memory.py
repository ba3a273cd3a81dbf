"""Fit time and peak memory against scikit-learn's Ridge and RidgeCV on the same arrays (issue 20).

Each cell (n prompts, d hashed features, k experts with a score per prompt, quality target) runs
three fits, each in its own subprocess so peak RSS (``ru_maxrss``) is the fit's own:

* ``ir3de``: ``IR3DERouter(HashingFeaturizer(n_features=d), target="quality")`` with the
  defaults (``alpha="auto"``: 5-fold cross-validation over 11 α, the safe-default threshold and
  the temperature), from the prompts: its time includes hashing them;
* ``Ridge``: one fit at one α on the hashed rows (the same arrays, hashed before the clock);
* ``RidgeCV``: the same 11-α grid by efficient leave-one-out (GCV), one α for every expert.

Peak RSS is reported above the process's RSS just before the fit (data already built), so the
interpreter and the imports (~0.2 GB) are not counted. A cell whose arrays alone would exceed
``--limit`` is not run: ir3de's own check (``FitMemoryError``) says so for ir3de, the size of
the hashed rows (n × d float64) or the coefficients (k × d) for scikit-learn. A cell that runs
past ``--timeout`` is reported as such. A fit under 5 s is run three times, interleaved with the
other estimators, and reported by its median time and largest peak: a sub-second time is mostly
a fresh process's first page faults and BLAS start-up, which vary from run to run. Run::

    .venv/bin/python -m benchmarks.fit_memory                       # the issue's grid
    .venv/bin/python -m benchmarks.fit_memory --n 20 --d 4096 --k 7 # one cell
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ir3de_cli.report import format_table

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
GRID_N, GRID_D, GRID_K = (20, 10_000, 100_000), (384, 4096, 65_536), (7, 100, 10_000)
ESTIMATORS = ("ir3de", "Ridge", "RidgeCV")
WORDS = 2000
AIMS = "aim: ir3de ≤ 2× RidgeCV in peak memory and time; 20 × 4096 × 7 under 2 s and 500 MB"
QUICK, REPEATS = 5.0, 3  # fits under QUICK seconds run REPEATS times: the median time, max peak


def _data(n: int, k: int) -> tuple[list[str], Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(WORDS)]
    prompts = [" ".join(rng.choice(vocabulary, 16)) for _ in range(n)]
    return prompts, rng.random((n, k))


def _rss() -> int:
    """This process's peak RSS so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_cell(estimator: str, n: int, d: int, k: int) -> dict[str, Any]:
    """Fit once in this process; seconds and peak RSS above the RSS before the fit."""
    import numpy as np

    from ir3de_core import FitMemoryError, HashingFeaturizer, IR3DERouter
    from ir3de_core.fit.tuning import GRID_EXPONENTS

    prompts, Y = _data(n, k)
    experts = [f"e{j}" for j in range(k)]
    featurizer = HashingFeaturizer(n_features=d)
    X = None if estimator == "ir3de" else featurizer.fit(prompts).transform(prompts).astype(float)
    before = _current_rss()
    start = time.perf_counter()
    if estimator == "ir3de":
        try:
            IR3DERouter(featurizer, target="quality").fit(prompts, Y, experts=experts)
        except FitMemoryError as error:
            return {"refused": str(error).split(";")[0]}
    else:
        from sklearn.linear_model import Ridge, RidgeCV

        assert X is not None
        scale = float(((X - X.mean(axis=0)) ** 2).sum()) / d
        if estimator == "Ridge":
            Ridge(alpha=scale * 0.1).fit(X, Y)
        else:
            RidgeCV(alphas=scale * 10.0**GRID_EXPONENTS).fit(X, Y)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_bytes": max(0, _rss() - before), "rows": int(np.size(Y, 0))}


def _skip(estimator: str, n: int, d: int, k: int, limit: float) -> str | None:
    """Why a cell is not started: its arrays alone exceed the limit (ir3de checks itself)."""
    if estimator == "ir3de":
        return None
    need = 8 * (n * d + n * k + k * d + min(n, d) ** 2)
    if need > limit:
        return f"needs ≥ {need / 1e9:.0f} GB (X, Y, coef, Gram)"
    return None


def measure(
    estimator: str, n: int, d: int, k: int, *, limit: float, timeout: float
) -> dict[str, Any]:
    """One cell in a subprocess (BLAS on one thread, ir3de's memory limit set to `limit`)."""
    reason = _skip(estimator, n, d, k, limit)
    if reason:
        return {"refused": reason}
    env = {**os.environ, "IR3DE_MEMORY_LIMIT": str(int(limit)), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, "-m", "benchmarks.fit_memory", "--cell", estimator,
               str(n), str(d), str(k)]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"refused": f"> {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"refused": f"failed: {tail[:80]}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def repeated(n: int, d: int, k: int, *, limit: float, timeout: float) -> dict[str, Any]:
    """Every estimator on one cell; a fit under `QUICK` seconds is run `REPEATS` times,
    interleaved with the others (a sub-second time is mostly the process's first page faults
    and BLAS start-up, which vary run to run): its median time and largest peak."""
    runs = {e: [measure(e, n, d, k, limit=limit, timeout=timeout)] for e in ESTIMATORS}
    for _ in range(REPEATS - 1):
        for estimator, done in runs.items():
            if done[0].get("seconds", QUICK) < QUICK:
                done.append(measure(estimator, n, d, k, limit=limit, timeout=timeout))
    return {e: _summary(done) for e, done in runs.items()}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    timed = [r for r in runs if "seconds" in r]
    if len(timed) < len(runs) or len(runs) == 1:
        return runs[0]
    seconds = sorted(r["seconds"] for r in timed)
    return {**timed[0], "seconds": seconds[len(seconds) // 2], "runs": len(timed),
            "peak_bytes": max(r["peak_bytes"] for r in timed)}  # fmt: skip


def _cell(result: dict[str, Any]) -> tuple[object, object]:
    if "refused" in result:
        return result["refused"], None
    return round(result["seconds"], 2), round(result["peak_bytes"] / 1e6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_memory", description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=list(GRID_N))
    parser.add_argument("--d", type=int, nargs="+", default=list(GRID_D))
    parser.add_argument("--k", type=int, nargs="+", default=list(GRID_K))
    parser.add_argument("--limit", type=float, default=16e9, help="bytes a cell may use")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per fit")
    parser.add_argument("--json", help="write every number to this file")
    parser.add_argument("--cell", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(run_cell(args.cell[0], *(int(v) for v in args.cell[1:]))))
        return 0
    rows, results = [], []
    for n in args.n:
        for d in args.d:
            for k in args.k:
                cell = repeated(n, d, k, limit=args.limit, timeout=args.timeout)
                results.append({"n": n, "d": d, "k": k, **cell})
                row: list[object] = [n, d, k]
                for estimator in ESTIMATORS:
                    row.extend(_cell(cell[estimator]))
                rows.append(row)
                print(f"n={n} d={d} k={k}: " + json.dumps(cell), file=sys.stderr, flush=True)
    headers = ["n", "d", "k"] + [f"{e} {u}" for e in ESTIMATORS for u in ("s", "MB")]
    print(format_table(headers, rows))
    print(
        f"\n{AIMS}; MB: peak RSS above the RSS before the fit; BLAS on one thread; "
        f"fits under {QUICK:.0f} s: median of {REPEATS} runs, largest peak"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
