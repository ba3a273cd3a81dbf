"""Replicas sharing one feedback log: every acknowledged event is folded by every replica, once,
in sequence order, so they end with identical statistics (bit for bit) — on SQLite and on a real
PostgreSQL server, with replicas killed with SIGKILL mid-fold and restarted.

The replicas are real gateway processes (uvicorn) on loopback in front of fake experts; the
client is the openai SDK (chat) and httpx (feedback).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI

from ir3de_core import IR3DERouter
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_serve.sharedlog import SharedLog, decode_event, open_shared_log
from tests.serve.conftest import CODE, MATH, config_data, fit_router
from tests.serve.replica_procs import PASSWORD_ENV, PostgresServer, Replica

PROMPTS = [f"{p} case {i}" for i in range(8) for p in MATH + CODE]


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh shared log: an SQLite file, or a new database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    monkeypatch.setenv(PASSWORD_ENV, server.password)  # the replicas inherit it
    return server.create_database()


def replica_config(
    router_dir: Path, urls: dict[str, str], log_url: str, state: Path, **feedback: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {"shared_log": log_url, "save_to": str(state), **feedback}
    if log_url.startswith("postgresql"):
        options["shared_log_password_env"] = PASSWORD_ENV
    return config_data(router_dir, urls, feedback={"shared_log_poll_seconds": 0.05, **options})


def start_replicas(
    router_dir: Path, urls: dict[str, str], log_url: str, tmp: Path, n: int, **feedback: Any
) -> list[Replica]:
    replicas = [
        Replica(replica_config(router_dir, urls, log_url, tmp / f"state-{i}", **feedback),
                tmp / f"replica-{i}").launch()
        for i in range(n)
    ]  # fmt: skip
    return [r.ready() for r in replicas]


def send_event(replica: Replica, prompt: str, score: float) -> str | None:
    """Ask `replica` (openai SDK), score the answer there; the completion id when acked."""
    client = OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0, timeout=30)
    try:
        completion = client.chat.completions.create(
            model="ir3de", messages=[{"role": "user", "content": prompt}]
        )
        answer = httpx.post(
            f"{replica.url}/v1/feedback", json={"id": completion.id, "score": score}, timeout=30
        )
    except Exception:  # a killed replica: not acknowledged
        return None
    if answer.status_code != 200:
        return None
    assert answer.json()["sequence"] >= 1
    return completion.id


def spread(replicas: Sequence[Replica], events: Sequence[tuple[int, str, float]]) -> list[str]:
    """Send each (replica index, prompt, score) concurrently; the acknowledged ids."""
    with ThreadPoolExecutor(6) as pool:
        acked = pool.map(lambda e: send_event(replicas[e[0]], e[1], e[2]), events)
        return [a for a in acked if a is not None]


def events_for(n: int, n_replicas: int, seed: int) -> list[tuple[int, str, float]]:
    rng = random.Random(seed)
    return [(rng.randrange(n_replicas), rng.choice(PROMPTS), rng.random()) for _ in range(n)]


def logged(log_url: str) -> Iterator[tuple[int, bytes]]:
    log = open_log(log_url)
    try:
        after = 0
        while events := log.read(after):
            for e in events:
                yield e.sequence, e.payload
            after = events[-1].sequence
    finally:
        log.close()


def open_log(url: str) -> SharedLog:
    return open_shared_log(url, password_env=PASSWORD_ENV if url.startswith("postgres") else None)


def converge(replicas: Sequence[Replica], log_url: str, timeout: float = 60.0) -> int:
    """Wait until every replica has folded the whole log; its head."""
    log = open_log(log_url)
    head = log.head()
    log.close()
    deadline = time.monotonic() + timeout
    while any(r.health()["feedback"]["sequence"] < head for r in replicas):
        assert time.monotonic() < deadline, [r.health()["feedback"] for r in replicas]
        time.sleep(0.1)
    return head


def reference(router_dir: Path, log_url: str) -> tuple[SufficientStatistics, list[str]]:
    """The base router folding the log's events in sequence order, in this process."""
    router = IR3DERouter.load(router_dir)
    ids = []
    for _, payload in logged(log_url):
        event = decode_event(payload, router.statistics_.n_features)
        router.partial_fit_features(
            event.row[None, :], [{event.expert: event.score}], sample_weight=[event.weight]
        )
        ids.append(event.completion_id)
    return router.statistics_, ids


def assert_identical(a: SufficientStatistics, b: SufficientStatistics) -> None:
    """Every array of the statistics equal, bit for bit."""
    left, right = a.to_arrays(), b.to_arrays()
    assert left.keys() == right.keys() and a.names == b.names
    for key in left:
        assert left[key].dtype == right[key].dtype and left[key].shape == right[key].shape
        assert left[key].tobytes() == right[key].tobytes(), key


def saved_statistics(replicas: Sequence[Replica]) -> list[SufficientStatistics]:
    return [IR3DERouter.load(r.config["feedback"]["save_to"]).statistics_ for r in replicas]


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    return fit_router().save(tmp_path / "router")


@pytest.mark.parametrize("n_replicas", [2, 3])
def test_replicas_fold_every_acknowledged_event_and_agree(
    n_replicas: int, log_url: str, base_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    replicas = start_replicas(base_dir, urls, log_url, tmp_path, n_replicas, save_every_events=7)
    try:
        acked = spread(replicas, events_for(90, n_replicas, seed=n_replicas))
        converge(replicas, log_url)
        live = [r.health()["feedback"] for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    assert len(acked) == 90  # nothing refused, nothing lost on the way
    expected, ids = reference(base_dir, log_url)
    assert sorted(ids) == sorted(acked)  # the log holds each acknowledged event once
    assert all(f["folded"] == 90 and f["skipped"] == 0 for f in live)
    base_rows = int(IR3DERouter.load(base_dir).statistics_.n_rows.sum())
    for statistics in saved_statistics(replicas):
        assert int(statistics.n_rows.sum()) == base_rows + 90  # each event folded exactly once
        assert_identical(statistics, expected)  # and in the log's order


def test_a_replica_killed_mid_fold_loses_nothing_and_folds_nothing_twice(
    log_url: str, base_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    victim, other = start_replicas(base_dir, urls, log_url, tmp_path, 2, save_every_events=1)
    acked: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        events = iter(events_for(10_000, 2, seed=7))
        with ThreadPoolExecutor(4) as pool:
            while not stop.is_set():
                batch = [next(events) for _ in range(8)]
                acked.extend(
                    a for a in pool.map(lambda e: send_event((victim, other)[e[0]], e[1], e[2]), batch)
                    if a is not None
                )  # fmt: skip

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        while len(acked) < 40:
            time.sleep(0.05)
        victim.kill()  # saving after every event: the kill lands in a fold or a save
        killed_at = len(acked)
        time.sleep(0.5)
        victim.start()
        while len(acked) < killed_at + 40:
            time.sleep(0.05)
    finally:
        stop.set()
        sender.join()
    try:
        head = converge((victim, other), log_url)
        resumed = victim.health()["feedback"]
    finally:
        victim.stop()
        other.stop()
    expected, ids = reference(base_dir, log_url)
    assert set(acked) <= set(ids)  # every acknowledged event is in the log...
    assert len(ids) == len(set(ids)) and head >= len(ids)
    assert len(ids) - len(acked) <= 4  # ...and at most the requests in flight at the kill more
    assert 0 < resumed["folded"] < resumed["sequence"]  # resumed from its cursor, not from 0
    base_rows = int(IR3DERouter.load(base_dir).statistics_.n_rows.sum())
    for statistics in saved_statistics((victim, other)):
        assert int(statistics.n_rows.sum()) == base_rows + len(ids)  # none twice, none missed
        assert_identical(statistics, expected)


def test_where_events_landed_does_not_change_what_replicas_learn(
    base_dir: Path, upstreams, tmp_path: Path
) -> None:
    """The same events in the same order, all on one replica or spread over three: the same
    statistics, bit for bit (and different scores would give different ones). Each answer is
    routed after every replica has folded the events before it: feedback moves decisions, so
    an answer routed before a fold may go to another expert (a race, not a difference)."""
    _, urls = upstreams
    events = [(i % 3, PROMPTS[(7 * i) % len(PROMPTS)], (i % 10) / 10) for i in range(30)]
    results = []
    for run, landing in enumerate(("one", "spread", "other scores")):
        url = f"sqlite:///{tmp_path / f'log-{run}.db'}"
        replicas = start_replicas(base_dir, urls, url, tmp_path / f"run-{run}", 3)
        try:
            for i, prompt, score in events:
                where = replicas[0 if landing == "one" else i]
                value = score if landing != "other scores" else 1.0 - score
                assert send_event(where, prompt, value) is not None  # one at a time: in order
                converge(replicas, url)  # the next answer is routed on every event before it
        finally:
            for r in replicas:
                r.stop()
        states = saved_statistics(replicas)
        for s in states[1:]:
            assert_identical(s, states[0])
        results.append(states[0])
    assert_identical(results[0], results[1])
    assert not np.array_equal(results[0].mean_y, results[2].mean_y)
