"""Feedback: folded into the router online, every event accounted for, logged, saved atomically."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_core.data import load_records
from tests.serve.conftest import CODE, MATH, config_data, gateway_app

PROMPT = "solve the integral of x squared"


def ask(url: str, prompt: str = PROMPT, model: str = "ir3de") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def score(url: str, completion_id: str, value: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/feedback", json={"id": completion_id, "score": value})


def test_feedback_changes_the_decision(router_dir: Path, upstreams, tmp_path: Path) -> None:
    _, urls = upstreams
    log = tmp_path / "feedback.jsonl"
    with gateway_app(config_data(router_dir, urls, feedback={"log": str(log)})) as (gw, url):
        rows = int(gw.slot.router.statistics_.n_rows.sum())
        experts, events = [], 0
        while events < 40:
            answer = ask(url)
            experts.append(answer.headers["x-ir3de-expert"])
            if experts[-1] == "beta":
                break
            assert score(url, answer.json()["id"], 0.0).json()["folded"] is True
            better = ask(url, model="beta")  # the other expert, asked by name, did well
            assert score(url, better.json()["id"], 1.0).status_code == 200
            events += 2
        assert experts[0] == "alpha" and experts[-1] == "beta"
        assert int(gw.slot.router.statistics_.n_rows.sum()) == rows + events
        assert gw.feedback.stats()["folded"] == events
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == events
    assert {tuple(line["scores"].items()) for line in lines} == {
        (("alpha", 0.0),),
        (("beta", 1.0),),
    }
    assert all("prompt" not in line for line in lines)  # prompts are never logged by default
    saved = IR3DERouter.load(router_dir)  # saved at shutdown
    assert int(saved.statistics_.n_rows.sum()) == rows + events
    assert saved.route([PROMPT])[0].expert == "beta"


def test_log_prompts_makes_logs_training_records(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    data = config_data(
        router_dir,
        urls,
        server={"log_prompts": True, "decision_log": str(tmp_path / "decisions.jsonl")},
        feedback={"log": str(tmp_path / "feedback.jsonl")},
    )
    with gateway_app(data) as (_, url):
        for prompt in (MATH[0], CODE[0]):
            assert score(url, ask(url, prompt).json()["id"], 0.5).status_code == 200
    records = load_records([tmp_path / "feedback.jsonl"])
    assert [r.prompt for r in records] == [MATH[0], CODE[0]]
    assert [dict(r.scores) for r in records] == [{"alpha": 0.5}, {"beta": 0.5}]
    decisions = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert [d["prompt"] for d in decisions] == [MATH[0], CODE[0]]
    assert [d["expert"] for d in decisions] == ["alpha", "beta"]


def test_decision_log_has_no_prompts_by_default(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, server={"decision_log": str(tmp_path / "d.jsonl")})
    with gateway_app(data) as (_, url):
        completion_id = ask(url).json()["id"]
    (line,) = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert line["id"] == completion_id and line["rule"] == "best" and "prompt" not in line
    assert PROMPT not in (tmp_path / "d.jsonl").read_text()
    novelty = IR3DERouter.load(router_dir).route([PROMPT])[0].novelty
    assert novelty is not None and line["novelty"] == pytest.approx(novelty)


def test_feedback_errors(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway_app(config_data(router_dir, urls)) as (gw, url):
        completion_id = ask(url).json()["id"]
        cases = [
            (score(url, "chatcmpl-nope", 1.0), 404, "no completion 'chatcmpl-nope' awaits"),
            (score(url, completion_id, "good"), 400, "'score' must be a finite number"),
            (score(url, completion_id, True), 400, "'score' must be a finite number"),
            (
                httpx.post(
                    f"{url}/v1/feedback",
                    content=f'{{"id": "{completion_id}", "score": NaN}}',
                ),
                400,
                "finite number",
            ),
            (httpx.post(f"{url}/v1/feedback", json={"score": 1}), 400, "'id' is required"),
            (score(url, completion_id, 0.5), 200, None),
            (score(url, completion_id, 0.5), 409, "was already scored"),
        ]
        assert gw.feedback.stats()["folded"] == 1
    for response, status, message in cases:
        assert response.status_code == status, response.text
        if message is not None:
            assert message in response.json()["error"]["message"]


def test_a_domain_router_learns_the_expert_that_should_have_answered(
    tmp_path: Path, upstreams
) -> None:
    _, urls = upstreams
    router = IR3DERouter("hashing", target="domain", expert_map={"m": "alpha", "c": "beta"})
    path = router.fit(MATH + CODE, ["m"] * len(MATH) + ["c"] * len(CODE)).save(tmp_path / "r")
    with gateway_app(config_data(path, urls)) as (gw, url):
        rows = int(gw.slot.router.statistics_.n_rows.sum())
        completion_id = ask(url).json()["id"]
        a_score = score(url, completion_id, 1.0)
        unknown = httpx.post(f"{url}/v1/feedback", json={"id": completion_id, "expert": "gamma"})
        right = httpx.post(f"{url}/v1/feedback", json={"id": completion_id, "expert": "beta"})
        assert int(gw.slot.router.statistics_.n_rows.sum()) == rows + 1
    for response in (a_score, unknown):
        assert response.status_code == 400
        assert "'expert' must name the expert" in response.json()["error"]["message"]
    assert right.status_code == 200 and right.json()["folded"] is True


def test_saved_every_n_events_atomically(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, feedback={"save_every_events": 3})
    with gateway_app(data) as (gw, url):
        ids = [ask(url).json()["id"] for _ in range(4)]
        for completion_id in ids[:3]:
            assert score(url, completion_id, 0.1).status_code == 200
        saved = IR3DERouter.load(router_dir)
        np.testing.assert_allclose(saved.coef_, gw.slot.router.coef_, rtol=1e-9, atol=1e-12)
        assert gw.feedback.stats()["unsaved"] == 0
        assert score(url, ids[3], 0.1).status_code == 200
        assert gw.feedback.stats()["unsaved"] == 1
        assert gw.slot.version == 1  # its own save is not reloaded
    assert sorted(p.name for p in router_dir.parent.iterdir()) == ["router"]  # no temp folders


def test_saved_every_t_seconds(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, feedback={"save_every_seconds": 0.3})
    with gateway_app(data) as (gw, url):
        before = IR3DERouter.load(router_dir).statistics_.n_rows.sum()
        assert score(url, ask(url).json()["id"], 0.1).status_code == 200
        deadline = time.monotonic() + 10
        while gw.feedback.stats()["unsaved"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert IR3DERouter.load(router_dir).statistics_.n_rows.sum() == before + 1


def test_concurrent_feedback_is_all_folded(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    with gateway_app(config_data(router_dir, urls)) as (gw, url):
        rows = int(gw.slot.router.statistics_.n_rows.sum())
        prompts = [MATH[i % len(MATH)] if i % 2 else CODE[i % len(CODE)] for i in range(40)]
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda p: ask(url, p).json()["id"], prompts))
            statuses = list(pool.map(lambda i: score(url, i, 0.7).status_code, ids))
        metrics = httpx.get(f"{url}/metrics").text
        assert statuses == [200] * 40
        assert int(gw.slot.router.statistics_.n_rows.sum()) == rows + 40
        assert gw.feedback.stats() | {"pending": 0, "pending_bytes": 0} == {
            "received": 40,
            "folded": 40,
            "unsaved": 40,
            "pending": 0,
            "pending_bytes": 0,
        }
    folded = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("ir3de_feedback_events_total{")
    )
    assert math.isclose(folded, 40)


@pytest.mark.parametrize("save", [False])
def test_save_false_never_writes(router_dir: Path, upstreams, save: bool) -> None:
    _, urls = upstreams
    before = (router_dir / "router.json").stat().st_mtime_ns
    data = config_data(router_dir, urls, feedback={"save": save, "save_every_events": 1})
    with gateway_app(data) as (_, url):
        assert score(url, ask(url).json()["id"], 0.1).status_code == 200
    assert (router_dir / "router.json").stat().st_mtime_ns == before
