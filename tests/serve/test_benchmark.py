"""The gateway benchmark runs end to end (the real ``ir3de serve`` command in a subprocess) and
its feedback accounting holds: every event sent is folded, logged and saved."""

from __future__ import annotations

import pytest

from benchmarks.gateway import _table, run

pytestmark = pytest.mark.slow


def test_benchmark_smoke() -> None:
    result = run(requests=60, concurrency=4, feedback_every=3)
    phases = {(p.name, p.concurrency): p for p in result["phases"]}
    assert set(phases) == {
        ("direct", 1),
        ("gateway", 1),
        ("direct", 4),
        ("gateway", 4),
        ("gateway, stream", 4),
        ("gateway + feedback", 4),
    }
    assert all(p.errors == 0 and p.requests == 60 for p in phases.values())
    assert all(p.cpu_ms and p.cpu_ms > 0 for (name, _), p in phases.items() if name != "direct")
    feedback = result["feedback"]
    assert feedback["sent"] == 20
    assert feedback["folded"] == feedback["metric"] == feedback["logged"] == 20
    assert feedback["saved_rows"] == 20
    assert "decisions/s" in _table(result)


def test_replica_benchmark_smoke() -> None:
    from benchmarks.replicas import run as run_replicas
    from benchmarks.replicas import table

    rows, _ = run_replicas(events=30, concurrency=4, replicas=(2,), engines=("sqlite",))
    (row,) = rows
    assert (row.acked, row.logged, row.folded, row.lost, row.identical) == (30, 30, 30, 0, True)
    assert 0 < row.p50_ms <= row.p99_ms
    assert "| sqlite | 2 | 30 | 30 | 30 | 0 | yes |" in table(rows)


def test_benchmark_slow_upstream_and_two_workers_smoke() -> None:
    """``--upstream-ms`` makes the fake upstream wait (direct latency at least that long);
    ``--workers 2`` shares feedback through the shared log, and every event is still folded,
    logged (by the worker that acknowledged it) and saved."""
    result = run(requests=40, concurrency=4, feedback_every=4, upstream_ms=30, workers=2)
    phases = {(p.name, p.concurrency): p for p in result["phases"]}
    assert all(p.errors == 0 for p in phases.values())
    assert 30 <= phases["direct", 1].p50 < phases["gateway", 1].p50
    assert phases["direct", 4].p50 >= 30
    feedback = result["feedback"]
    assert feedback["sent"] == 10
    assert feedback["folded"] == feedback["metric"] == feedback["logged"] == 10
    assert feedback["saved_rows"] == 10
