"""``/metrics``: valid Prometheus text with decisions, latencies, fallbacks and feedback."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.conftest import CODE, MATH, config_data, gateway
from tests.serve.fakes import FakeUpstream
from tests.serve.servers import serving


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def ask(url: str, prompt: str, model: str = "ir3de") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body)


def test_metrics_count_what_happened(router_dir: Path) -> None:
    alpha, beta = FakeUpstream("alpha"), FakeUpstream("beta")
    with (
        serving(alpha) as a,
        serving(beta) as b,
        gateway(config_data(router_dir, {"alpha": a, "beta": b})) as url,
    ):
        ids = [ask(url, p).json()["id"] for p in (MATH[0], MATH[1], CODE[0])]
        ask(url, CODE[1], model="alpha")
        ask(url, "", model="ir3de")  # 400: nothing to route on
        for completion_id in ids[:2]:
            httpx.post(f"{url}/v1/feedback", json={"id": completion_id, "score": 0.5})
        httpx.post(f"{url}/v1/feedback", json={"id": "chatcmpl-x", "score": 0.5})
        alpha.status = 503
        ask(url, MATH[2])  # alpha fails, beta answers
        values = samples(url)

    def value(name: str, **labels: str) -> float:
        return values.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("ir3de_decisions_total", expert="alpha", rule="best") == 2
    assert value("ir3de_decisions_total", expert="beta", rule="best") == 2  # one after fallback
    assert value("ir3de_decisions_total", expert="alpha", rule="forced") == 1
    assert value("ir3de_routing_seconds_count") == 5  # every request with text (forced too)
    assert 0 < value("ir3de_routing_seconds_sum") < 1
    assert value("ir3de_upstream_seconds_count", expert="alpha") == 3
    assert value("ir3de_upstream_seconds_count", expert="beta") == 2
    assert value("ir3de_fallbacks_total", expert="alpha") == 1
    assert value("ir3de_requests_total", status="200") == 5
    assert value("ir3de_requests_total", status="400") == 1
    assert value("ir3de_feedback_events_total", expert="alpha") == 2
    assert value("ir3de_feedback_rejected_total", reason="unknown_id") == 1
    assert value("ir3de_feedback_unsaved") == 2
    assert value("ir3de_router_saves_total") == 0
