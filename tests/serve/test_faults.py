"""The faults of issue 18 (item 5): each fixed, each with a test against a real gateway."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve.feedback import Completion
from ir3de_serve.logfile import JsonLog
from ir3de_serve.memory import ExpiringMap
from tests.serve.conftest import config_data, fit_router, gateway, gateway_app
from tests.serve.fakes import FakeUpstream
from tests.serve.servers import serving

USER = [{"role": "user", "content": "solve the integral of x squared"}]
BODY = {"model": "ir3de", "messages": USER}


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_router_that_cannot_route_is_not_swapped_in(
    router_dir: Path, upstreams, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    _, urls = upstreams
    monkeypatch.setenv("IR3DE_TEST_ADMIN", "adm")
    data = config_data(
        router_dir,
        urls,
        router={"reload_seconds": 0.1},
        server={"admin_key_env": "IR3DE_TEST_ADMIN"},
    )
    broken = fit_router(good_at_math="beta", good_at_code="alpha")
    state = broken.state_
    broken.state_ = state.replace(
        solution=state.solution.__class__(state.solution.coef, np.full(2, np.nan))
    )
    real_load = IR3DERouter.load.__func__  # type: ignore[attr-defined]
    loads = {"broken": False}

    def load(cls, *args, **kwargs):  # the file loads (as the core lets it), but cannot route
        return broken if loads["broken"] else real_load(cls, *args, **kwargs)

    admin = {"authorization": "Bearer adm"}
    with caplog.at_level(logging.WARNING, "ir3de.serve"), gateway_app(data) as (gw, url):
        monkeypatch.setattr(IR3DERouter, "load", classmethod(load))
        loads["broken"] = True
        fit_router(good_at_math="beta", good_at_code="alpha").save(router_dir)
        wait_for(lambda: gw.slot.refused is not None)
        answer = httpx.post(f"{url}/v1/chat/completions", json=BODY)
        health = httpx.get(f"{url}/healthz", headers=admin).json()
    assert answer.status_code == 200 and answer.headers["x-ir3de-expert"] == "alpha"
    assert health["router"]["version"] == 1
    assert "cannot route" in health["router"]["refused"]
    assert any("refused, the running one stays" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            {**BODY, "n": 1_000_000_000},
            "'n' is 1000000000, more than this gateway allows: 8",
            "n_too_large",
        ),
        ({**BODY, "n": "many"}, "'n' must be a positive integer", None),
        (
            {"model": "ir3de", "messages": USER * 1001},
            "too many messages: 1001 > 1000",
            "too_many_messages",
        ),
    ],
)
def test_n_and_messages_are_bounded(
    router_dir: Path, upstreams, body: dict, message: str, code: str | None
) -> None:
    fakes, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match=message) as info:
            client.chat.completions.create(**body)
    assert info.value.code == code
    assert not fakes["alpha"].bodies and not fakes["beta"].bodies


def test_bytes_per_request_are_bounded(router_dir: Path, upstreams) -> None:
    fakes, urls = upstreams
    with gateway(config_data(router_dir, urls, server={"max_request_bytes": 2048})) as url:
        big = [{"role": "user", "content": "x" * 4096}]
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "ir3de", "messages": big}
        )
    assert response.status_code == 413
    assert "max_request_bytes" in response.json()["error"]["message"]
    assert not fakes["alpha"].bodies


@pytest.mark.parametrize("status", [401, 400])
def test_upstream_error_bodies_never_reach_the_client(
    router_dir: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    secret = "sk-live-THE-EXPERT-KEY-123456"
    monkeypatch.setenv("IR3DE_TEST_EXPERT_KEY", secret)

    async def leaky(scope, receive, send) -> None:
        if scope["type"] != "http":
            await FakeUpstream("alpha")(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        body = json.dumps(
            {
                "error": {
                    "message": f"Incorrect API key provided: {secret}",
                    "code": "invalid_api_key",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    with serving(leaky) as a:
        data = config_data(router_dir, {"alpha": a, "beta": a})
        for expert in data["experts"]:
            expert["api_key_env"] = "IR3DE_TEST_EXPERT_KEY"
        with gateway(data) as url:
            response = httpx.post(f"{url}/v1/chat/completions", json=BODY)
            stream = httpx.post(f"{url}/v1/chat/completions", json={**BODY, "stream": True})
    for answer in (response, stream):
        assert secret not in answer.text and "THE-EXPERT-KEY" not in answer.text
        assert answer.status_code == (502 if status == 401 else 400)
    if status == 401:
        assert response.json()["error"]["code"] == "upstream_auth"
    else:
        assert "[redacted]" in response.json()["error"]["message"]


def test_logs_rotate_at_their_cap_and_follow_logrotate(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    decisions, feedback = (
        tmp_path / "logs" / "decisions.jsonl",
        tmp_path / "logs" / "feedback.jsonl",
    )
    data = config_data(
        router_dir,
        urls,
        server={"decision_log": str(decisions), "log_max_bytes": 1024},
        feedback={"log": str(feedback)},
    )
    with gateway_app(data) as (_, url):
        for _ in range(12):
            answer = httpx.post(f"{url}/v1/chat/completions", json=BODY).json()
            assert (
                httpx.post(
                    f"{url}/v1/feedback", json={"id": answer["id"], "score": 0.5}
                ).status_code
                == 200
            )
        assert decisions.stat().st_size <= 1024 and Path(f"{decisions}.1").stat().st_size <= 1024
        assert Path(f"{feedback}.1").exists() and feedback.stat().st_size <= 1024
        os.rename(decisions, tmp_path / "moved.jsonl")  # logrotate with `create`
        decisions.touch()
        answer = httpx.post(f"{url}/v1/chat/completions", json=BODY).json()
    assert json.loads(decisions.read_text().splitlines()[-1])["id"] == answer["id"]
    assert answer["id"] not in (tmp_path / "moved.jsonl").read_text()


def test_a_log_deleted_under_the_gateway_is_recreated(tmp_path: Path) -> None:
    log = JsonLog(tmp_path / "a.jsonl", 1 << 20)
    log.write({"n": 1})
    (tmp_path / "a.jsonl").unlink()
    log.write({"n": 2})
    log.close()
    assert [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()] == [{"n": 2}]


def test_pending_completions_are_bounded_in_bytes(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    cap = 64 * 1024
    data = config_data(router_dir, urls, feedback={"max_pending_bytes": cap})
    text = "solve the integral " + "x" * 10_000
    body = {"model": "ir3de", "messages": [{"role": "user", "content": text}]}
    with gateway_app(data) as (gw, url):
        ids = [httpx.post(f"{url}/v1/chat/completions", json=body).json()["id"] for _ in range(30)]
        stats = gw.feedback.stats()
        oldest = httpx.post(f"{url}/v1/feedback", json={"id": ids[0], "score": 0.5})
        newest = httpx.post(f"{url}/v1/feedback", json={"id": ids[-1], "score": 0.5})
    assert stats["pending_bytes"] <= cap and 0 < stats["pending"] < 30
    assert oldest.status_code == 404 and newest.status_code == 200


def test_expiring_map_counts_bytes_through_replace_pop_and_expiry() -> None:
    now = [0.0]
    m: ExpiringMap[str, Completion] = ExpiringMap(
        100, 10.0, max_bytes=10_000, size=Completion.nbytes, clock=lambda: now[0]
    )
    m.set("a", Completion("x" * 1000, "alpha", "best"))
    m.set("a", Completion("x" * 2000, "alpha", "best"))
    m.set("b", Completion("x" * 3000, "alpha", "best"))
    assert (
        m.nbytes
        == Completion("x" * 2000, "", "").nbytes() + Completion("x" * 3000, "", "").nbytes()
    )
    m.set("huge", Completion("x" * 20_000, "alpha", "best"))  # larger than the cap alone
    assert m.get("huge") is None and len(m) == 2
    m.pop("a")
    now[0] = 11.0
    assert len(m) == 0 and m.nbytes == 0


def test_healthz_without_a_key_says_only_ok(
    router_dir: Path, upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, urls = upstreams
    monkeypatch.setenv("IR3DE_TEST_CHAT", "chat-key")
    monkeypatch.setenv("IR3DE_TEST_ADMIN", "admin-key")
    data = config_data(
        router_dir,
        urls,
        server={"api_key_env": "IR3DE_TEST_CHAT", "admin_key_env": "IR3DE_TEST_ADMIN"},
    )
    with gateway(data) as url:
        anonymous = httpx.get(f"{url}/healthz")
        chat = httpx.get(f"{url}/healthz", headers={"authorization": "Bearer chat-key"})
        admin = httpx.get(f"{url}/healthz", headers={"authorization": "Bearer admin-key"})
    assert anonymous.json() == {"status": "ok"} and chat.json() == {"status": "ok"}
    assert admin.json()["router"]["version"] == 1 and "feedback" in admin.json()
    assert str(router_dir) not in admin.text and str(router_dir) not in anonymous.text
