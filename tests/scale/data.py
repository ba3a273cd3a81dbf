"""Synthetic routing records for the scale tier: the bundled demo prompts with seeded scores."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ir3de_core.router import IR3DERouter

DEMO = Path(__file__).resolve().parents[2] / "ir3de_cli" / "demo_data" / "prompts.jsonl"
EXPERTS = ("alpha", "beta", "gamma")
BEST = {"math": "alpha", "code": "beta", "multilingual": "gamma", "writing": "alpha"}


def synthetic_lines(copies: int = 3, seed: int = 0) -> list[str]:
    """JSONL lines: each demo prompt `copies` times with a suffix, a domain and partial scores."""
    rng = random.Random(seed)
    base = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    lines = []
    for copy in range(copies):
        for item in base:
            scores = {
                e: round((0.8 if BEST[item["domain"]] == e else 0.3) + rng.random() / 10, 6)
                for e in EXPERTS
                if rng.random() > 0.2
            }
            record = {**item, "prompt": f"{item['prompt']} (variant {copy})", "scores": scores}
            lines.append(json.dumps(record))
    rng.shuffle(lines)
    return lines


def write_records(path: Path, copies: int = 3, seed: int = 0) -> Path:
    """Write `synthetic_lines` to `path` and return it."""
    path.write_text("\n".join(synthetic_lines(copies, seed)) + "\n", encoding="utf-8")
    return path


def reference_fit(router: IR3DERouter, lines: Iterable[str]) -> IR3DERouter:
    """The single-machine, all-in-memory fit of `router` on JSONL `lines`."""
    items = [json.loads(line) for line in lines]
    prompts = [i["prompt"] for i in items]
    if router.target == "domain":
        return router.fit(
            prompts, [i["domain"] for i in items], scores=[i["scores"] for i in items]
        )
    return router.fit(prompts, [i["scores"] for i in items])


def assert_same_router(got: IR3DERouter, want: IR3DERouter, atol: float = 1e-8) -> None:
    """Same groups, experts, expert map, statistics and solution (to `atol`)."""
    assert got.statistics_.names == want.statistics_.names
    assert got.experts_ == want.experts_
    assert getattr(got, "expert_map_", None) == getattr(want, "expert_map_", None)
    assert got.statistics_.equals(want.statistics_, atol=atol)
    np.testing.assert_allclose(got.coef_, want.coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(got.intercept_, want.intercept_, rtol=0, atol=atol)


def slow_partition(items: Iterable[str], delay: float = 0.5) -> list[str]:
    """Pass a partition through after `delay` seconds (gives a test time to kill a worker)."""
    time.sleep(delay)
    return list(items)


def clear_worker_cache() -> None:
    """Empty this process's router cache (run on Dask workers)."""
    from ir3de_core.scale import distributed

    distributed._CACHE.clear()


def worker_cache_size() -> int:
    """Routers in this process's cache (run on Dask workers)."""
    from ir3de_core.scale import distributed

    return len(distributed._CACHE)
