"""The gateway explores when its config says so, and logs each decision's propensity."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ir3de_core.learn.off_policy import read_logged_feedback
from ir3de_serve.config import ConfigError, parse_config
from tests.serve.conftest import MATH, config_data, gateway_app, router_dir, upstreams

__all__ = ["router_dir", "upstreams"]  # the fixtures, used by name


def ask(url: str, prompt: str) -> httpx.Response:
    body = {"model": "ir3de", "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def test_an_exploring_gateway_logs_propensities_that_evaluate_off_policy(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    decisions, feedback = tmp_path / "decisions.jsonl", tmp_path / "feedback.jsonl"
    data = config_data(
        router_dir,
        urls,
        server={"log_prompts": True, "decision_log": str(decisions)},
        feedback={"log": str(feedback)},
        policy={
            "explore": "thompson",
            "explore_strength": 5.0,
            "explore_share": 0.5,
            "explore_seed": 0,
        },
    )
    with gateway_app(data) as (gw, url):
        assert gw.slot.router is not None
        for i in range(40):
            answer = ask(url, MATH[i % len(MATH)])
            score = 0.9 if answer.headers["x-ir3de-expert"] == "alpha" else 0.2
            posted = httpx.post(
                f"{url}/v1/feedback", json={"id": answer.json()["id"], "score": score}
            )
            assert posted.status_code == 200, posted.text
    lines = [json.loads(x) for x in decisions.read_text().splitlines()]
    assert len(lines) == 40
    assert all(0 < line["propensity"] <= 1 for line in lines)
    explored = [line for line in lines if line["rule"] == "explore"]
    assert explored and all(line["expert"] == "beta" for line in explored)
    assert all(line["propensity"] <= 0.5 for line in explored)  # the share caps deviations
    joined = tmp_path / "joined.jsonl"
    joined.write_text(decisions.read_text() + feedback.read_text())
    logged = read_logged_feedback(joined)
    assert len(logged.prompts) == 40
    assert sorted(logged.propensities.tolist()) == sorted(line["propensity"] for line in lines)


def test_a_bad_explore_setting_names_the_policy_table(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with pytest.raises(ConfigError, match=r"\[policy\].*explore"):
        parse_config(config_data(router_dir, urls, policy={"explore": "ucb1"}))
