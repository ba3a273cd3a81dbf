"""Chat completions through the gateway against fake experts: what passes through, what is
rewritten, headers, streaming, and every bad request answered in OpenAI's error format."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.serve.conftest import config_data, gateway
from tests.serve.fakes import FakeUpstream
from tests.serve.servers import serving

USER = [{"role": "user", "content": "solve the integral of x squared"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Evaluate an expression",
            "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}},
        },
    }
]


def test_routes_and_passes_every_field_through(router_dir: Path, upstreams) -> None:
    fakes, urls = upstreams
    extra = {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "calculator"}},
        "response_format": {"type": "json_object"},
        "seed": 7,
        "temperature": 0,
        "max_tokens": 5,
        "logit_bias": {"42": -1},
        "user": "u-1",
        "metadata": {"custom": "kept"},
    }
    with gateway(config_data(router_dir, urls)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        raw = client.chat.completions.with_raw_response.create(
            model="ir3de", messages=USER, **extra
        )
        completion = raw.parse()
    assert raw.headers["x-ir3de-expert"] == "alpha"
    assert raw.headers["x-ir3de-rule"] == "best"
    assert 0.5 < float(raw.headers["x-ir3de-confidence"]) <= 1.0
    assert "x-ir3de-fallback-from" not in raw.headers
    assert completion.model == "alpha"
    assert completion.id.startswith("chatcmpl-") and completion.id != "chatcmpl-upstream"
    assert completion.choices[0].message.content == "alpha says hi"
    assert completion.usage is not None and completion.usage.total_tokens == 8
    sent = fakes["alpha"].bodies[-1]
    assert sent == {"model": "alpha", "messages": USER, **extra}
    assert not fakes["beta"].bodies
    assert "authorization" not in fakes["alpha"].headers[-1] or (
        fakes["alpha"].headers[-1]["authorization"] == "Bearer none"
    )


def test_an_expert_named_as_model_is_forced(router_dir: Path, upstreams) -> None:
    fakes, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "beta", "messages": USER}
        )
    assert response.status_code == 200
    assert response.headers["x-ir3de-expert"] == "beta"
    assert response.headers["x-ir3de-rule"] == "forced"
    assert response.json()["model"] == "beta"
    assert fakes["beta"].bodies[-1]["model"] == "beta" and "stream" not in fakes["beta"].bodies[-1]


def test_streaming_passes_each_event_through_rewritten(router_dir: Path, upstreams) -> None:
    fakes, urls = upstreams
    code = [{"role": "user", "content": "write a python function that sorts a list"}]
    with (
        gateway(config_data(router_dir, urls)) as url,
        httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "ir3de", "messages": code, "stream": True},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-ir3de-expert"] == "beta"
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["beta", " w1", " w2"]
    assert {c["model"] for c in chunks} == {"beta"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"] != "chatcmpl-upstream"
    assert fakes["beta"].bodies[-1]["stream"] is True


def test_openai_sdk_streams_through_the_gateway(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        stream = client.chat.completions.create(model="ir3de", messages=USER, stream=True)
        parts = [c.choices[0].delta.content for c in stream if c.choices]
    assert "".join(p or "" for p in parts) == "alpha w1 w2"


def test_models_lists_ir3de_and_the_experts(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        names = [m.id for m in client.models.list()]
    assert names == ["ir3de", "alpha", "beta"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "ir3de"}, 400, "'messages' is required"),
        ({"model": "ir3de", "messages": []}, 400, "'messages' is required"),
        ({"model": "ir3de", "messages": ["hi"]}, 400, "messages[0] must be an object"),
        ({"messages": USER}, 400, "you must provide a model"),
        ({"model": "gpt-5", "messages": USER}, 404, "the model 'gpt-5' does not exist here"),
        ({"model": "ir3de", "messages": USER, "stream": "yes"}, 400, "'stream' must be"),
        ({"model": "ir3de", "messages": [{"role": "user", "content": " "}]}, 400, "no text"),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_bad_requests_get_openai_errors(
    router_dir: Path, upstreams, body: object, status: int, message: str
) -> None:
    fakes, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    assert not fakes["alpha"].bodies and not fakes["beta"].bodies


def test_sdk_raises_its_own_errors_with_our_message(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.NotFoundError, match="use one of: ir3de, alpha, beta") as info:
            client.chat.completions.create(model="gpt-5", messages=USER)
        assert info.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError, match="'messages' is required"):
            client.chat.completions.create(model="ir3de", messages=[])


def test_not_json_and_oversized_bodies(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, server={"max_request_bytes": 1000})
    with gateway(data) as url:
        endpoint = f"{url}/v1/chat/completions"
        broken = httpx.post(endpoint, content=b"{not json")
        declared = httpx.post(endpoint, json={"model": "ir3de", "messages": USER * 40})

        def chunked():
            yield b'{"model": "ir3de", "messages": ['
            for _ in range(40):
                yield json.dumps(USER[0]).encode() + b","
            yield json.dumps(USER[0]).encode() + b"]}"

        streamed = httpx.post(endpoint, content=chunked())
        small = httpx.post(endpoint, json={"model": "ir3de", "messages": USER})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    for response in (declared, streamed):
        assert response.status_code == 413
        assert "larger than 1000 bytes" in response.json()["error"]["message"]
        assert response.json()["error"]["code"] == "request_too_large"
    assert small.status_code == 200


def test_unknown_endpoints_and_methods(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls)) as url:
        missing = httpx.get(f"{url}/v1/embeddings")
        method = httpx.get(f"{url}/v1/chat/completions")
    assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"]["message"]
    assert method.status_code == 405 and "GET is not allowed" in method.json()["error"]["message"]


def test_client_key_guards_everything_but_health(
    router_dir: Path, upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, urls = upstreams
    monkeypatch.setenv("IR3DE_TEST_GATEWAY_KEY", "s3cret")
    data = config_data(router_dir, urls, server={"api_key_env": "IR3DE_TEST_GATEWAY_KEY"})
    with gateway(data) as url:
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0)
        bad = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
        assert good.chat.completions.create(model="ir3de", messages=USER).model == "alpha"
        with pytest.raises(openai.AuthenticationError, match="incorrect API key"):
            bad.chat.completions.create(model="ir3de", messages=USER)
        for path in ("/v1/models", "/metrics"):
            assert httpx.get(f"{url}{path}").status_code == 401
        feedback = httpx.post(f"{url}/v1/feedback", json={"id": "x", "score": 1})
        assert feedback.status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_events_are_forwarded_as_they_arrive(router_dir: Path) -> None:
    slow = FakeUpstream("alpha", chunks=4, gap=0.4)
    with serving(slow) as a, gateway(config_data(router_dir, {"alpha": a, "beta": a})) as url:
        body = {"model": "ir3de", "messages": USER, "stream": True}
        started = time.perf_counter()
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            arrivals = [time.perf_counter() - started for _ in response.iter_raw()]
    assert len(arrivals) == 5  # one write per event: 4 chunks and [DONE]
    assert arrivals[0] < 0.3 and arrivals[3] > 1.1  # the first event did not wait for the last
    assert all(b - a > 0.2 for a, b in itertools.pairwise(arrivals[:4]))


def test_a_stream_that_breaks_ends_with_an_error_event(router_dir: Path) -> None:
    broken = FakeUpstream("alpha", chunks=4, break_after=2)
    with serving(broken) as a, gateway(config_data(router_dir, {"alpha": a, "beta": a})) as url:
        body = {"model": "ir3de", "messages": USER, "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            events = [json.loads(x[6:]) for x in response.iter_lines() if x.startswith("data: {")]
    assert [e["choices"][0]["delta"]["content"] for e in events[:2]] == ["alpha", " w1"]
    assert "the expert's stream broke" in events[-1]["error"]["message"]
    assert len(events) == 3
