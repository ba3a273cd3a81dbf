"""Replica benchmark (issue 18 item 4): gateways sharing one feedback log, SQLite vs PostgreSQL.

Starts 2 and 3 gateway replicas (``serve`` in processes of their own, one uvicorn worker each)
in front of fast fake experts on loopback, all on one router file, and sends `--events`
completions and their feedback spread over the replicas at `--concurrency` (each feedback to the
replica that answered). After a clean shutdown it reads every replica's saved router:

- ``acked``: feedback answered 200; ``logged``: events in the shared log;
- ``folded``: the fewest events any replica's saved statistics hold beyond the base router;
- ``lost``: acked events some replica's saved statistics do not hold (``acked − folded``);
- ``identical``: every replica's statistics equal, bit for bit;
- the feedback ack latency (the ``POST /v1/feedback`` round trip: featurize, durable commit).

The baseline row is the gateway without a shared log: replicas saving to one router folder,
each folding only what landed on it (what issue 18 measured). `--kill` kills replica 0 with
SIGKILL halfway and restarts it. Run from a clone (PostgreSQL rows need ``initdb``/``pg_ctl``
and ``psycopg``; they are left out with a note otherwise)::

    .venv/bin/python -m benchmarks.replicas --events 400 --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ir3de_core import IR3DERouter
from tests.serve.conftest import CODE, MATH, config_data, fit_router
from tests.serve.fakes import FakeUpstream
from tests.serve.replica_procs import PASSWORD_ENV, PostgresServer, Replica, postgres_server
from tests.serve.servers import serving

__all__ = ["Row", "main", "run"]

PROMPTS = [f"{p} case {i}" for i in range(20) for p in MATH + CODE]


@dataclass(frozen=True)
class Row:
    """One run: the log, the replicas and what they kept."""

    log: str
    replicas: int
    acked: int
    logged: int | None
    folded: int
    lost: int
    identical: bool | None
    p50_ms: float
    p99_ms: float
    events_per_s: float


def run(
    *,
    events: int = 400,
    concurrency: int = 8,
    replicas: Sequence[int] = (2, 3),
    engines: Sequence[str] = ("none", "sqlite", "postgresql"),
    kill: bool = False,
) -> tuple[list[Row], list[str]]:
    """Every (engine, replica count) run; the rows and notes (engines left out and why)."""
    rows, notes = [], []
    with ExitStack() as stack:
        urls = {n: stack.enter_context(serving(FakeUpstream(n))) for n in ("alpha", "beta")}
        server: PostgresServer | str | None = None
        if "postgresql" in engines:
            server = stack.enter_context(postgres_server())
            if isinstance(server, str):
                notes.append(f"postgresql left out: {server}")
            else:
                os.environ[PASSWORD_ENV] = server.password
        for engine in engines:
            if engine == "postgresql" and not isinstance(server, PostgresServer):
                continue
            for n in replicas:
                with tempfile.TemporaryDirectory(prefix="ir3de-replicas-") as tmp:
                    url = _log_url(engine, Path(tmp), server)
                    rows.append(_one(engine, url, n, urls, Path(tmp), events, concurrency, kill))
    return rows, notes


def _log_url(engine: str, tmp: Path, server: Any) -> str | None:
    if engine == "none":
        return None
    if engine == "sqlite":
        return f"sqlite:///{tmp / 'feedback.db'}"
    return str(server.create_database())


def _one(
    engine: str,
    log_url: str | None,
    n: int,
    urls: dict[str, str],
    tmp: Path,
    events: int,
    concurrency: int,
    kill: bool,
) -> Row:
    base_dir = fit_router().save(tmp / "router")
    base_rows = int(IR3DERouter.load(base_dir).statistics_.n_rows.sum())
    configs = [_config(base_dir, urls, log_url, tmp / f"state-{i}") for i in range(n)]
    procs = [Replica(c, tmp / f"replica-{i}").launch() for i, c in enumerate(configs)]
    for p in procs:
        p.ready()
    rng = np.random.default_rng(n)
    plan = [(int(rng.integers(n)), PROMPTS[int(rng.integers(len(PROMPTS)))], float(rng.random()))
            for _ in range(events)]  # fmt: skip
    latencies: list[float] = []
    started = time.perf_counter()
    with _stopping(procs), ThreadPoolExecutor(concurrency) as pool:
        half = events // 2
        latencies += [x for x in pool.map(lambda e: _event(procs[e[0]], e), plan[:half]) if x]
        if kill:
            procs[0].kill()
            procs[0].start()
        latencies += [x for x in pool.map(lambda e: _event(procs[e[0]], e), plan[half:]) if x]
        elapsed = time.perf_counter() - started
        logged = None
        if log_url is not None:
            _converge(procs)
            logged = _head(procs[0])
    saved = [IR3DERouter.load(c["feedback"]["save_to"]).statistics_ for c in configs]
    if log_url is None:
        saved = saved[:1]  # one folder for all
    added = [int(s.n_rows.sum()) - base_rows for s in saved]
    arrays = [s.to_arrays() for s in saved]
    identical = all(
        a.keys() == arrays[0].keys() and all(a[k].tobytes() == arrays[0][k].tobytes() for k in a)
        for a in arrays
    )
    acked = len(latencies)
    return Row(
        log=engine,
        replicas=n,
        acked=acked,
        logged=logged,
        folded=min(added),
        lost=max(0, acked - min(added)),
        identical=identical if log_url is not None else None,
        p50_ms=float(np.percentile(latencies, 50)) * 1e3 if latencies else float("nan"),
        p99_ms=float(np.percentile(latencies, 99)) * 1e3 if latencies else float("nan"),
        events_per_s=acked / elapsed,
    )


def _config(
    base_dir: Path, urls: dict[str, str], log_url: str | None, state: Path
) -> dict[str, Any]:
    feedback: dict[str, Any] = {"save_every_events": 50, "save_every_seconds": 5}
    if log_url is None:  # the baseline: every replica saves to the router folder
        feedback["save_to"] = str(base_dir)
    else:
        feedback.update(shared_log=log_url, save_to=str(state), shared_log_poll_seconds=0.05)
        if log_url.startswith("postgresql"):
            feedback["shared_log_password_env"] = PASSWORD_ENV
    data = config_data(base_dir, urls, feedback=feedback)
    data["router"]["reload_seconds"] = 0.5  # the baseline reloads what the other replica saved
    data["server"]["access_log"] = False
    return data


_CLIENT = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=64))


def _event(replica: Replica, event: tuple[int, str, float]) -> float | None:
    """One completion and its feedback; the feedback round trip in seconds (None: not acked)."""
    _, prompt, score = event
    try:
        body = {"model": "ir3de", "messages": [{"role": "user", "content": prompt}]}
        answer = _CLIENT.post(f"{replica.url}/v1/chat/completions", json=body)
        started = time.perf_counter()
        ack = _CLIENT.post(
            f"{replica.url}/v1/feedback",
            json={"id": answer.json()["id"], "score": score},
            timeout=30,
        )
        took = time.perf_counter() - started
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    return took if ack.status_code == 200 else None


def _head(replica: Replica) -> int:
    return int(replica.health()["feedback"]["sequence"])


def _converge(procs: Sequence[Replica], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sequences = {_head(p) for p in procs}
        if len(sequences) == 1:
            time.sleep(0.3)  # and nothing more came
            if {_head(p) for p in procs} == sequences:
                return
        time.sleep(0.1)


@contextmanager
def _stopping(procs: Sequence[Replica]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = "| shared log | replicas | acked | logged | folded (min) | lost | identical | ack p50 ms | ack p99 ms | events/s |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        same = "n/a" if r.identical is None else ("yes" if r.identical else "NO")
        logged = "-" if r.logged is None else str(r.logged)
        name = "none (one folder)" if r.log == "none" else r.log
        lines.append(
            f"| {name} | {r.replicas} | {r.acked} | {logged} | {r.folded} | {r.lost} | {same} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.events_per_s:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--replicas", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--engines", nargs="+", default=["none", "sqlite", "postgresql"],
                        choices=["none", "sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--kill", action="store_true", help="SIGKILL replica 0 halfway")
    args = parser.parse_args(argv)
    rows, notes = run(
        events=args.events, concurrency=args.concurrency, replicas=args.replicas,
        engines=args.engines, kill=args.kill,
    )  # fmt: skip
    print(table(rows))
    for note in notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
