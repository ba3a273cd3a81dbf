"""Upstream failures: transient ones fall back per the policy, others pass through unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from tests.serve.conftest import config_data, gateway
from tests.serve.fakes import FakeUpstream
from tests.serve.servers import free_port, serving

MATH = {"model": "ir3de", "messages": [{"role": "user", "content": "solve the integral of x"}]}


def metric(url: str, name: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_transient_failure_falls_back_then_cools_down(router_dir: Path) -> None:
    alpha, beta = FakeUpstream("alpha", status=503), FakeUpstream("beta")
    with serving(alpha) as a, serving(beta) as b:
        data = config_data(router_dir, {"alpha": a, "beta": b}, server={"cooldown_seconds": 60})
        with gateway(data) as url:
            first = httpx.post(f"{url}/v1/chat/completions", json=MATH)
            second = httpx.post(f"{url}/v1/chat/completions", json=MATH)
            fallbacks = metric(url, 'ir3de_fallbacks_total{expert="alpha"}')
            health = httpx.get(f"{url}/healthz").json()
    assert first.status_code == 200 and first.json()["model"] == "beta"
    assert first.headers["x-ir3de-expert"] == "beta"
    assert first.headers["x-ir3de-fallback-from"] == "alpha"
    assert second.status_code == 200 and "x-ir3de-fallback-from" not in second.headers
    assert len(alpha.bodies) == 1 and len(beta.bodies) == 2  # alpha sat out the second request
    assert fallbacks == 1.0
    assert health["experts_up"] == ["beta"]


def test_a_stopped_upstream_falls_back_when_streaming(router_dir: Path) -> None:
    beta = FakeUpstream("beta")
    stopped = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serving(beta) as b, gateway(config_data(router_dir, {"alpha": stopped, "beta": b})) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        with client.chat.completions.with_streaming_response.create(
            **MATH, stream=True
        ) as response:
            headers = response.headers
            text = "".join(
                json.loads(line[6:])["choices"][0]["delta"]["content"]
                for line in response.iter_lines()
                if line.startswith("data: {")
            )
    assert headers["x-ir3de-expert"] == "beta" and headers["x-ir3de-fallback-from"] == "alpha"
    assert text == "beta w1 w2"


def test_a_request_error_is_not_retried_and_passes_through(router_dir: Path) -> None:
    alpha, beta = FakeUpstream("alpha", status=400), FakeUpstream("beta")
    with (
        serving(alpha) as a,
        serving(beta) as b,
        gateway(config_data(router_dir, {"alpha": a, "beta": b})) as url,
    ):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="alpha failed with 400") as info:
            client.chat.completions.create(**MATH)
    assert info.value.code == "boom"
    assert not beta.bodies


def test_every_expert_failing_is_a_502_naming_each(router_dir: Path) -> None:
    alpha, beta = FakeUpstream("alpha", status=503), FakeUpstream("beta", status=500)
    with (
        serving(alpha) as a,
        serving(beta) as b,
        gateway(config_data(router_dir, {"alpha": a, "beta": b})) as url,
    ):
        response = httpx.post(f"{url}/v1/chat/completions", json=MATH)
        requests = metric(url, 'ir3de_requests_total{status="502"}')
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "upstream_unavailable"
    assert "alpha: InternalServerError" in error["message"] and "beta: " in error["message"]
    assert requests == 1.0


def test_a_named_expert_is_never_moved(router_dir: Path) -> None:
    alpha, beta = FakeUpstream("alpha", status=503), FakeUpstream("beta")
    with (
        serving(alpha) as a,
        serving(beta) as b,
        gateway(config_data(router_dir, {"alpha": a, "beta": b})) as url,
    ):
        response = httpx.post(f"{url}/v1/chat/completions", json={**MATH, "model": "alpha"})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "alpha failed with 503"
    assert not beta.bodies


def test_a_timeout_is_a_504(router_dir: Path) -> None:
    alpha = FakeUpstream("alpha", delay=2.0)
    with serving(alpha) as a:
        data = config_data(router_dir, {"alpha": a, "beta": a})
        data["experts"][0]["timeout_seconds"] = 0.2
        with gateway(data) as url:
            response = httpx.post(f"{url}/v1/chat/completions", json={**MATH, "model": "alpha"})
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
