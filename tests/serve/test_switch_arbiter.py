"""Two gateways on one SQLite log (in one process, real uvicorn): concurrent promotions of the
same candidate append one switch; a replica that cannot load a valid switch stops folding
there, keeps its router, says so, and switches once it can."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve.sharedlog import open_shared_log
from ir3de_serve.sharedlog.switches import (
    SwitchEntry,
    archive_digest,
    decode_switch,
    encode_switch,
    is_switch,
    pack_router,
    switch_key,
)
from tests.serve.conftest import MATH, config_data, fit_router, gateway_app
from tests.serve.test_shared_log import assert_identical


def configs(
    tmp_path: Path, urls: dict[str, str], n: int = 2, key: bytes | None = None
) -> list[dict]:
    """`n` gateways on one SQLite log, each shadowing the candidate "cand" (math → beta);
    with `key`, the routers are signed and the gateways check signatures."""
    base = fit_router().save(tmp_path / "router", signing_key=key)
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    candidate = flipped.save(tmp_path / "cand", signing_key=key)
    log = f"sqlite:///{tmp_path / 'log.db'}"
    signing = {"signing_key_env": "IR3DE_TEST_SIGNING_KEY"} if key else {}
    return [
        config_data(
            base,
            urls,
            router={"versions": str(tmp_path / f"versions-{i}"), **signing},
            feedback={
                "shared_log": log,
                "save_to": str(tmp_path / f"state-{i}"),
                "shared_log_poll_seconds": 0.05,
            },
            shadow={"router": str(candidate), "name": "cand"},
        )
        for i in range(n)
    ]


def switch_entries(tmp_path: Path) -> list[tuple[int, str]]:
    log = open_shared_log(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        return [(e.sequence, decode_switch(e.payload).version) for e in log.read(0, 10_000)
                if is_switch(e.payload)]  # fmt: skip
    finally:
        log.close()


def test_concurrent_promotions_of_one_candidate_append_one_switch(
    tmp_path: Path, upstreams
) -> None:
    _, urls = upstreams
    with ExitStack() as stack:
        gateways = [stack.enter_context(gateway_app(c)) for c in configs(tmp_path, urls)]
        shadows_before = [g.rollout.shadow for g, _ in gateways]
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda g, s: g[0].rollout.promote(None, note="auto", expected=s),
                    gateways, shadows_before,
                )
            )  # fmt: skip
        versions = [g.feedback.shared.switches.version for g, _ in gateways]
        shadows = [g.rollout.shadow for g, _ in gateways]
        routers = [g.slot.router for g, _ in gateways]
    assert switch_entries(tmp_path) == [(1, "cand")]  # one entry: the log's key arbitrated
    # the loser either found its shadow gone (switched already: nothing to do) or appended a
    # no-op that returned the winner's entry
    done = [a for a in answers if a["promoted"] is not None]
    assert [a["promoted"] for a in done] in (["cand"], ["cand", "cand"])
    assert [a["appended"] for a in done].count(True) == 1
    assert all(a["sequence"] == 1 and a["applied"] for a in done)
    assert versions == ["cand", "cand"] and shadows == [None, None]
    assert_identical(routers[0].statistics_, routers[1].statistics_)
    assert [r.route([MATH[0]])[0].expert for r in routers] == ["beta", "beta"]


def test_a_replica_that_cannot_load_a_switch_waits_and_retries(
    tmp_path: Path, upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, urls = upstreams
    first_config, second_config = configs(tmp_path, urls)
    with ExitStack() as stack:
        first, _ = stack.enter_context(gateway_app(first_config))
        first.rollout.promote(None, note="manual")
        # the second replica starts where its temporary folder cannot be made: it folds the log
        # from the start and meets the switch
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
        second, url = stack.enter_context(gateway_app(second_config))
        base = second.slot.router
        pending = None
        for _ in range(200):
            pending = httpx.get(f"{url}/healthz").json()["feedback"]["switches"]["pending"]
            if pending:
                break
            time.sleep(0.05)
        held, cursor = second.slot.router, second.feedback.shared.cursor
        monkeypatch.setattr(tempfile, "tempdir", None)  # fixed: a later poll switches
        for _ in range(200):
            if second.feedback.shared.switches.version == "cand":
                break
            time.sleep(0.05)
        after = httpx.get(f"{url}/healthz").json()["feedback"]["switches"]
        expert = second.slot.router.route([MATH[0]])[0].expert
    assert pending and "cannot be loaded here (retrying)" in pending
    assert held is base and cursor == 0  # kept serving the old router, folded nothing past it
    assert after["version"] == "cand" and after["pending"] is None
    assert expert == "beta"


def test_with_a_signing_key_only_signed_routers_switch(
    tmp_path: Path, upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, urls = upstreams
    monkeypatch.setenv("IR3DE_TEST_SIGNING_KEY", "k3y")
    unsigned = fit_router(good_at_math="beta", good_at_code="alpha")
    with ExitStack() as stack:
        gateways = [
            stack.enter_context(gateway_app(c)) for c in configs(tmp_path, urls, key=b"k3y")
        ]
        (first, url), (second, _) = gateways
        unsigned.save(tmp_path / "versions-0" / "unsigned")
        refused = httpx.post(f"{url}/admin/promote", json={"version": "unsigned"})
        files = pack_router(unsigned.save(tmp_path / "forged"))  # a forged entry, right hash
        forged = SwitchEntry("promote", "forged", archive_digest(files), 0, files)
        log = open_shared_log(f"sqlite:///{tmp_path / 'log.db'}")
        try:
            sequence = log.append(switch_key(0), encode_switch(forged))
        finally:
            log.close()
        for _ in range(200):
            if all(g.feedback.shared.cursor >= sequence for g, _ in gateways):
                break
            time.sleep(0.05)
        after_forged = [g.feedback.shared.switches.stats() for g, _ in gateways]
        promoted = first.rollout.promote(None, note="manual")  # the signed candidate
        for _ in range(200):
            if second.feedback.shared.switches.version == "cand":
                break
            time.sleep(0.05)
        versions = [g.feedback.shared.switches.version for g, _ in gateways]
        kept = second.feedback.shared.switches.previous[-1]
    assert refused.status_code == 422 and "sign" in refused.text
    assert all(s["version"] is None and "sign" in s["refused"] for s in after_forged)
    assert promoted["applied"] and versions == ["cand", "cand"]
    IR3DERouter.load(tmp_path / "versions-1" / kept, signing_key=b"k3y")  # kept signed
    IR3DERouter.load(tmp_path / "state-1", signing_key=b"k3y")  # saved signed
