"""Promotion and rollback with replicas on one shared log: each replica switches its router at
the switch's place in the log, so they end with the same version and the same statistics, bit
for bit, and lose no acknowledged event; a corrupt or unloadable version switches nobody.

Real gateway processes (uvicorn) on loopback, a real SQLite log or PostgreSQL server; each
replica keeps versions in a folder of its own (as on separate machines).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI

from ir3de_core import IR3DERouter
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_serve.sharedlog import decode_event
from ir3de_serve.sharedlog.switches import (
    SwitchEntry,
    archive_digest,
    decode_switch,
    encode_switch,
    is_switch,
    pack_router,
    switch_key,
    unpack_router,
)
from tests.serve.conftest import CODE, MATH, fit_router
from tests.serve.replica_procs import Replica
from tests.serve.test_shared_log import (
    assert_identical,
    converge,
    events_for,
    log_url,
    logged,
    open_log,
    replica_config,
    saved_statistics,
    spread,
)

__all__ = ["log_url"]  # the fixture, re-exported for pytest
EXPLORE = {"explore": "thompson", "explore_strength": 5.0, "explore_share": 0.5, "explore_seed": 0}


def start(base: Path, urls: dict[str, str], url: str, tmp: Path, n: int = 2) -> list[Replica]:
    replicas = []
    for i in range(n):
        config = replica_config(base, urls, url, tmp / f"state-{i}", save_every_events=5)
        config["router"]["versions"] = str(tmp / f"versions-{i}")
        replicas.append(Replica(config, tmp / f"replica-{i}").launch())
    return [r.ready() for r in replicas]


def stop(replicas: Sequence[Replica]) -> None:
    for r in replicas:
        r.stop()


def reference(base: Path, url: str) -> tuple[SufficientStatistics, list[str], list[str]]:
    """The log replayed here: events folded, applied switches switching the router (a switch
    whose files do not decode or load is skipped); statistics, event ids, versions switched to."""
    router, ids, versions = IR3DERouter.load(base), [], []
    for _, payload in logged(url):
        if is_switch(payload):
            try:
                entry = decode_switch(payload)
                with tempfile.TemporaryDirectory() as tmp:
                    router = IR3DERouter.load(unpack_router(entry.files, Path(tmp) / "r"))
            except ValueError:
                continue
            versions.append(entry.version)
            continue
        event = decode_event(payload, router.statistics_.n_features)
        router.partial_fit_features(
            event.row[None, :], [{event.expert: event.score}], sample_weight=[event.weight]
        )
        ids.append(event.completion_id)
    return router.statistics_, ids, versions


def post(replica: Replica, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"{replica.url}{path}", json=body, timeout=90)


def switches(replica: Replica) -> dict[str, Any]:
    result: dict[str, Any] = replica.health()["feedback"]["switches"]
    return result


def metrics(replica: Replica) -> str:
    return httpx.get(f"{replica.url}/metrics", timeout=10).text


def chat_on(replica: Replica, prompt: str) -> tuple[str, str]:
    """The expert that answered `prompt` on `replica`, and the completion id."""
    client = OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="ir3de", messages=[{"role": "user", "content": prompt}]
    )
    return raw.headers["x-ir3de-expert"], raw.parse().id


def answers(replica: Replica, prompts: Sequence[str]) -> list[str]:
    client = OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0)
    return [
        client.chat.completions.with_raw_response.create(
            model="ir3de", messages=[{"role": "user", "content": p}]
        ).headers["x-ir3de-expert"]
        for p in prompts
    ]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return fit_router().save(tmp_path / "router")


def test_promote_on_one_replica_then_roll_back_on_the_other(
    log_url: str, base: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    flipped.save(tmp_path / "versions-0" / "v2")  # only replica 0 keeps it
    replicas = start(base, urls, log_url, tmp_path)
    acked: list[str] = []
    try:
        acked += spread(replicas, events_for(30, 2, seed=1))
        with ThreadPoolExecutor(1) as pool:  # the switch lands among concurrent events
            during = pool.submit(spread, replicas, events_for(30, 2, seed=2))
            promoted = post(replicas[0], "/admin/promote", {"version": "v2"})
            acked += during.result()
        assert promoted.status_code == 200, promoted.text
        converge(replicas, log_url)
        states = [switches(r) for r in replicas]
        routed = [answers(r, MATH[:3]) for r in replicas]
        counted = [metrics(r) for r in replicas]
    finally:
        stop(replicas)
    assert promoted.json()["applied"] and promoted.json()["previous"] is None
    assert [s["version"] for s in states] == ["v2", "v2"]
    assert routed == [["beta"] * 3] * 2  # replica 1 got v2 from the log alone
    assert not (tmp_path / "versions-1" / "v2").exists()
    assert all("ir3de_router_promotions_total 1.0" in m for m in counted)
    assert all('ir3de_router_version_in_force{version="v2"} 1.0' in m for m in counted)
    expected, ids, versions = reference(base, log_url)
    assert versions == ["v2"] and sorted(ids) == sorted(acked) and len(acked) == 60
    for statistics in saved_statistics(replicas):
        assert_identical(statistics, expected)  # switched at the same place, folded the same
    assert int(expected.n_rows.sum()) > int(flipped.statistics_.n_rows.sum())  # learned after

    replicas = [r.start() for r in replicas]  # restarted: resumed from their saves, switch included
    try:
        assert [switches(r)["version"] for r in replicas] == ["v2", "v2"]
        acked += spread(replicas, events_for(20, 2, seed=3))
        with ThreadPoolExecutor(1) as pool:
            during = pool.submit(spread, replicas, events_for(20, 2, seed=4))
            rolled = post(replicas[1], "/admin/rollback")
            acked += during.result()
        assert rolled.status_code == 200, rolled.text
        converge(replicas, log_url)
        states = [switches(r) for r in replicas]
        counted = [metrics(r) for r in replicas]
    finally:
        stop(replicas)
    back = rolled.json()["rolled_back_to"]
    assert back.startswith("before-") and rolled.json()["from"] == "v2"
    assert [s["version"] for s in states] == [back, back]
    assert all("ir3de_router_rollbacks_total 1.0" in m for m in counted)
    expected, ids, versions = reference(base, log_url)
    assert versions == ["v2", back] and sorted(ids) == sorted(acked) and len(acked) == 100
    for statistics in saved_statistics(replicas):
        assert_identical(statistics, expected)


def test_a_corrupt_version_switches_no_replica(
    log_url: str, base: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    broken = flipped.save(tmp_path / "versions-0" / "broken")
    arrays = broken / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])  # truncated
    replicas = start(base, urls, log_url, tmp_path)
    try:
        refused = post(replicas[0], "/admin/promote", {"version": "broken"})
        acked = spread(replicas, events_for(10, 2, seed=5))
        converge(replicas, log_url)
        # entries that reach the log anyway (a tampered database): a truncated router under
        # its own hash, and a good router whose bytes do not match the hash given
        log = open_log(log_url)
        try:
            files = pack_router(broken)
            bad = SwitchEntry("promote", "broken", archive_digest(files), 0, files)
            first = log.append(switch_key(0), encode_switch(bad))
            good = pack_router(flipped.save(tmp_path / "good"))
            tampered = SwitchEntry("promote", "v3", "0" * 64, first, good)
            log.append(switch_key(first), encode_switch(tampered))
        finally:
            log.close()
        acked += spread(replicas, events_for(10, 2, seed=6))
        converge(replicas, log_url)
        states = [switches(r) for r in replicas]
        routed = [answers(r, MATH[:2]) for r in replicas]
        counted = [metrics(r) for r in replicas]
    finally:
        stop(replicas)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "router_refused"
    assert all(s["version"] is None and "refused" in s["refused"] for s in states)
    assert routed == [["alpha"] * 2] * 2
    assert all('ir3de_router_switches_refused_total{reason="refused"} 2.0' in m for m in counted)
    assert all("ir3de_router_promotions_total 0.0" in m for m in counted)
    expected, ids, versions = reference(base, log_url)
    assert versions == [] and sorted(ids) == sorted(acked) and len(acked) == 20
    for statistics in saved_statistics(replicas):
        assert_identical(statistics, expected)  # both skipped both switches, folded the rest
    assert np.isfinite(expected.mean_y).all()
    assert (
        json.loads((tmp_path / "state-0" / "shared_log.json").read_text())["switches"]["epoch"]
        > first
    )  # the epoch moved past the refused switches


def test_auto_promotion_on_two_replicas_switches_once(
    base: Path, upstreams, tmp_path: Path
) -> None:
    """Both replicas shadow a better candidate and may auto-promote it: one switch is in the
    log, and both replicas put it in force."""
    _, urls = upstreams
    fit_router(good_at_math="beta", good_at_code="alpha").save(base)  # the live router is wrong
    candidate = fit_router().save(tmp_path / "candidate")
    url = f"sqlite:///{tmp_path / 'log.db'}"
    replicas = []
    for i in range(2):
        config = replica_config(base, urls, url, tmp_path / f"state-{i}")
        config["router"]["versions"] = str(tmp_path / f"versions-{i}")
        config["policy"] = EXPLORE
        config["shadow"] = {"router": str(candidate), "name": "cand", "auto_promote": True,
                            "min_events": 20, "check_every": 5, "bootstrap": 200}  # fmt: skip
        replicas.append(Replica(config, tmp_path / f"replica-{i}").launch())
    replicas = [r.ready() for r in replicas]
    try:
        for i in range(200):
            replica, prompt = replicas[i % 2], (MATH + CODE)[i % 12]
            expert, completion_id = chat_on(replica, prompt)
            good = (expert == "alpha") == (i % 12 < len(MATH))
            assert (
                post(
                    replica, "/v1/feedback", {"id": completion_id, "score": 0.9 if good else 0.2}
                ).status_code
                == 200
            )
            if i % 10 == 9 and all(switches(r)["version"] == "cand" for r in replicas):
                break
        converge(replicas, url)
        states = [switches(r) for r in replicas]
        shadows = [httpx.get(f"{r.url}/admin/shadow", timeout=30).status_code for r in replicas]
    finally:
        stop(replicas)
    entries = [decode_switch(p) for _, p in logged(url) if is_switch(p)]
    assert [(e.action, e.version) for e in entries] == [("promote", "cand")]
    assert entries[0].note.startswith("auto: DR gain +")
    assert [s["version"] for s in states] == ["cand", "cand"]
    assert shadows == [404, 404]  # the candidate is in force on both: no longer shadowed
    expected, _, _ = reference(base, url)
    for statistics in saved_statistics(replicas):
        assert_identical(statistics, expected)
