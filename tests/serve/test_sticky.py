"""Sticky conversations: the adapters' rule, named by a header or the request's ``user``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ir3de_core import RoutingDecision, RoutingPolicy
from ir3de_serve.messages import in_tool_loop, routed_text
from tests.serve.conftest import config_data, gateway

MATH = [{"role": "user", "content": "solve the integral of x squared"}]
CODE = [{"role": "user", "content": "write a python function that sorts a list"}]
TOOL_LOOP = [
    *CODE,
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "42"},
]


def decision(expert: str, confidence: float) -> RoutingDecision:
    other = "beta" if expert == "alpha" else "alpha"
    probabilities = {expert: confidence, other: 1 - confidence}
    return RoutingDecision(expert, dict(probabilities), confidence, probabilities=probabilities)


@pytest.mark.parametrize(
    ("held", "confidence", "in_loop", "available", "expected"),
    [
        (None, 0.6, False, ("alpha", "beta"), ("beta", "best")),
        ("beta", 0.6, False, ("alpha", "beta"), ("beta", "best")),
        ("alpha", 0.6, False, ("alpha", "beta"), ("alpha", "sticky")),
        ("alpha", 0.9, False, ("alpha", "beta"), ("beta", "best")),
        ("alpha", 0.99, True, ("alpha", "beta"), ("alpha", "sticky")),
        ("alpha", 0.6, False, ("beta",), ("beta", "best")),
    ],
)
def test_keep_conversation_rule(held, confidence, in_loop, available, expected) -> None:
    kept = RoutingPolicy().keep(
        decision("beta", confidence),
        held,
        in_loop=in_loop,
        available=available,
        switch_confidence=0.8,
    )
    assert (kept.expert, kept.rule) == expected


def test_tool_loop_and_routed_text() -> None:
    assert in_tool_loop(TOOL_LOOP) and not in_tool_loop(CODE) and not in_tool_loop(MATH)
    assert not in_tool_loop([*TOOL_LOOP, *MATH])
    parts = [{"type": "text", "text": "first"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert routed_text([{"role": "user", "content": parts}]) == "first"
    assert routed_text([*CODE, {"role": "assistant", "content": "ok"}]) == CODE[0]["content"]
    assert routed_text([{"role": "system", "content": "be brief"}]) == "be brief"


def post(url: str, messages: list, **extra) -> httpx.Response:
    headers = extra.pop("headers", {})
    body = {"model": "ir3de", "messages": messages, **extra}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def turn(response: httpx.Response) -> tuple[str, str]:
    return response.headers["x-ir3de-expert"], response.headers["x-ir3de-rule"]


def test_a_conversation_keeps_its_expert_unless_confident(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls, sticky={"switch_confidence": 1.0})) as url:
        talk = {"headers": {"x-ir3de-conversation": "c-1"}}
        assert turn(post(url, MATH, **talk)) == ("alpha", "best")
        assert turn(post(url, CODE, **talk)) == ("alpha", "sticky")
        assert turn(post(url, CODE)) == ("beta", "best")  # no conversation: routed anew
        assert turn(post(url, CODE, headers={"x-ir3de-conversation": "c-2"})) == ("beta", "best")
        assert turn(post(url, MATH, user="ann")) == ("alpha", "best")
        assert turn(post(url, CODE, user="ann")) == ("alpha", "sticky")
    with gateway(config_data(router_dir, urls, sticky={"switch_confidence": 0.5})) as url:
        assert turn(post(url, MATH, user="bob")) == ("alpha", "best")
        assert turn(post(url, CODE, user="bob")) == ("beta", "best")  # confident: moves
        assert turn(post(url, TOOL_LOOP, user="bob")) == ("beta", "best")


def test_a_tool_loop_stays_with_the_expert_that_asked(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway(config_data(router_dir, urls, sticky={"switch_confidence": 0.0})) as url:
        assert turn(post(url, MATH, user="eve")) == ("alpha", "best")
        assert turn(post(url, TOOL_LOOP, user="eve")) == ("alpha", "sticky")
        assert turn(post(url, CODE, user="eve")) == ("beta", "best")


def test_sticky_can_be_turned_off(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, sticky={"enabled": False, "switch_confidence": 1.0})
    with gateway(data) as url:
        assert turn(post(url, MATH, user="ann")) == ("alpha", "best")
        assert turn(post(url, CODE, user="ann")) == ("beta", "best")
