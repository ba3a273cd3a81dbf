"""Protected feedback (issue 18, item 3): keys off loopback, separate admin keys, scores in
range, one event per completion, per-key rates and weight budgets, conversations per key, and
the poisoning probe of docs/security.md (its leverage bound)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve import ConfigError, parse_config, serve
from ir3de_serve.influence import group_leverage
from ir3de_serve.security import check_exposure
from tests.serve.conftest import CODE, MATH, config_data, gateway_app

CHAT, ADMIN = {"authorization": "Bearer chat-key"}, {"authorization": "Bearer admin-key"}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("IR3DE_TEST_CHAT", "chat-key, other-chat-key")
    monkeypatch.setenv("IR3DE_TEST_ADMIN", "admin-key,other-admin-key")
    return {"api_key_env": "IR3DE_TEST_CHAT", "admin_key_env": "IR3DE_TEST_ADMIN"}


def ask(url: str, prompt: str, headers: dict[str, str] = CHAT, **extra: str) -> httpx.Response:
    body = {"model": "ir3de", "messages": [{"role": "user", "content": prompt}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={**headers, **extra})


def feedback(url: str, completion_id: str, score: object, key: str = "admin-key") -> httpx.Response:
    return httpx.post(
        f"{url}/v1/feedback",
        json={"id": completion_id, "score": score},
        headers={"authorization": f"Bearer {key}"},
    )


@pytest.mark.parametrize(
    ("server", "missing"),
    [({}, "api_key_env and [server] admin_key_env"), ({"api_key_env": "K"}, "admin_key_env")],
)
def test_off_loopback_the_gateway_refuses_to_start_without_keys(
    router_dir: Path, server: dict[str, str], missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K", "k")
    data = config_data(router_dir, {"alpha": "http://127.0.0.1:1", "beta": "http://127.0.0.1:1"})
    data["server"].update(server, host="0.0.0.0")
    expected = f"refusing to serve on 0.0.0.0 without keys.*{re.escape(missing)}"
    with pytest.raises(ConfigError, match=expected):
        serve(parse_config(data))  # raises before binding anything
    check_exposure("127.0.0.1", None, None)  # loopback: keys stay optional


def test_chat_keys_and_admin_keys_are_separate(router_dir: Path, upstreams, keys) -> None:
    _, urls = upstreams
    with gateway_app(config_data(router_dir, urls, server=keys)) as (_, url):
        answer = ask(url, MATH[0])
        assert answer.status_code == 200
        assert ask(url, MATH[0], headers=ADMIN).status_code == 401  # an admin key cannot chat
        other = ask(url, MATH[0], headers={"authorization": "Bearer other-chat-key"})
        assert other.status_code == 200
        completion_id = answer.json()["id"]
        assert feedback(url, completion_id, 0.5, key="chat-key").status_code == 401
        assert httpx.get(f"{url}/metrics", headers=CHAT).status_code == 401
        assert httpx.get(f"{url}/metrics", headers=ADMIN).status_code == 200
        assert feedback(url, completion_id, 0.5, key="other-admin-key").status_code == 200


def test_scores_are_checked_against_the_training_range(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls)
    del data["feedback"]["score_range"]  # the range seen in training: [0.2, 0.9]
    with gateway_app(data) as (gw, url):
        ids = [ask(url, MATH[0], headers={}).json()["id"] for _ in range(3)]
        cases = [feedback(url, ids[0], s) for s in (1e6, 1e200, 0.95, -0.1)]
        ok = feedback(url, ids[0], 0.9)
        again = feedback(url, ids[0], 0.5)  # one event per completion id
        assert gw.feedback.stats()["folded"] == 1
    assert gw.feedback.range == (0.2, 0.9)
    for response in cases:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "score_out_of_range"
        assert "[0.2, 0.9], the range seen in training" in response.json()["error"]["message"]
    assert ok.status_code == 200 and again.status_code == 409


def test_a_configured_range_replaces_the_training_one(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, feedback={"score_range": [0.0, 10.0]})
    with gateway_app(data) as (_, url):
        assert feedback(url, ask(url, MATH[0], headers={}).json()["id"], 7.5).status_code == 200
        assert feedback(url, ask(url, MATH[0], headers={}).json()["id"], 10.5).status_code == 400


def test_feedback_is_rate_limited_per_key(router_dir: Path, upstreams, keys) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, server=keys, feedback={"key_rate_per_minute": 12.0})
    with gateway_app(data) as (_, url):
        ids = [ask(url, MATH[i % 6]).json()["id"] for i in range(4)]
        first = [feedback(url, i, 0.5).status_code for i in ids[:3]]  # a burst of 2 (10 s' worth)
        other = feedback(url, ids[3], 0.5, key="other-admin-key")
    assert first == [200, 200, 429]
    assert other.status_code == 200  # another key has its own bucket


def test_one_keys_weight_is_bounded(router_dir: Path, upstreams, keys) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, server=keys, feedback={"key_share": 0.25})
    with gateway_app(data) as (_gw, url):  # 12 prompts per expert: 3 events of weight 1 each
        ids = [ask(url, MATH[i % 6]).json()["id"] for i in range(5)]
        answers = [feedback(url, i, 0.2) for i in ids[:4]]
        other = feedback(url, ids[4], 0.2, key="other-admin-key")
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.json()["weight"] for a in answers[:3]] == [1.0, 1.0, 1.0]
    assert answers[3].json()["error"]["code"] == "feedback_budget_spent"
    assert other.status_code == 200


def test_conversations_are_scoped_to_the_client_key(router_dir: Path, upstreams, keys) -> None:
    _, urls = upstreams
    with gateway_app(config_data(router_dir, urls, server=keys)) as (_, url):
        thread = {"x-ir3de-conversation": "thread-1"}
        mine = ask(url, CODE[0], **thread).headers["x-ir3de-expert"]  # beta holds thread-1
        stays = ask(url, "and now something else entirely", **thread)
        theirs = ask(url, MATH[0], headers={"authorization": "Bearer other-chat-key"}, **thread)
    assert mine == "beta" and stays.headers["x-ir3de-rule"] in {"sticky", "best"}
    assert theirs.headers["x-ir3de-expert"] == "alpha"  # not steered onto the other thread's expert
    assert theirs.headers["x-ir3de-rule"] == "best"


def probe_router() -> IR3DERouter:
    """300 maths and 300 code prompts (variants of the fixture's), alpha wins maths."""
    prompts = [f"{p} case {i}" for i in range(50) for p in MATH + CODE]
    scores = [
        {"alpha": 0.9, "beta": 0.2} if p.split(" case")[0] in MATH else {"alpha": 0.2, "beta": 0.9}
        for p in prompts
    ]
    return IR3DERouter({"kind": "hashing", "n_features": 256}, target="quality").fit(
        prompts, scores
    )


@dataclass(frozen=True)
class Poisoning:
    """What the probe measured: decisions changed, the largest move of alpha's score, the
    weight the key added, and the bound of docs/security.md for the fixed prompts."""

    changed: int
    moved: float
    added: float
    margin: float
    bound_any_key: float
    bound_this_key: float


def security_bound(weight: float, leverage: float, budget: float, score_range: float) -> float:
    """docs/security.md: one key of total weight `weight` and influence budget `budget` moves
    the score of a prompt of leverage `leverage` by at most ``R·φ(B)·√(weight·leverage)``."""
    phi = math.sqrt(math.expm1(budget)) / math.exp(budget) if budget <= math.log(2) else 0.5
    return score_range * phi * math.sqrt(weight * leverage)


def poison(tmp_path: Path, upstreams, fixed: list[str]) -> Poisoning:
    """One key sends a 1e6 score, then in-range events (score 0.2 for alpha, the maths expert)
    on `fixed` until refused."""
    _, urls = upstreams
    path = probe_router().save(tmp_path / "router")
    data = config_data(path, urls)
    data["feedback"] = {"save": False, "key_share": 0.02, "key_rate_per_minute": 60000.0}
    with gateway_app(data) as (gw, url):
        router = gw.slot.router
        before = router.route(fixed)
        weight = router.statistics_.weight.copy()
        model = group_leverage(router, "alpha")
        assert model is not None
        leverage = float(model.leverage(router.transform(fixed)).max())
        budget = gw.feedback.guard.influence_budget["alpha"]
        assert feedback(url, ask(url, fixed[0], headers={}).json()["id"], 1e6).status_code == 400
        statuses = []
        for i in range(1000):
            completion_id = ask(url, fixed[i % len(fixed)], headers={}).json()["id"]
            statuses.append(feedback(url, completion_id, 0.2).status_code)
            if statuses[-1] == 429:
                break
        after = router.route(fixed)
        added = float((router.statistics_.weight - weight).max())
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
    assert budget == pytest.approx(0.02 * (1 + model.df))
    low, high = gw.feedback.range
    nu = max(b.novelty or 0.0 for b in before)
    return Poisoning(
        changed=sum(a.expert != b.expert for a, b in zip(after, before, strict=True)),
        moved=max(
            abs(a.scores["alpha"] - b.scores["alpha"]) for a, b in zip(after, before, strict=True)
        ),
        added=added,
        margin=min(b.scores["alpha"] - b.scores["beta"] for b in before),
        bound_any_key=security_bound(
            0.02 * model.weight, (1 + model.df * nu) / model.weight, budget, high - low
        ),
        bound_this_key=security_bound(added, leverage, budget, high - low),
    )


def test_poisoning_probe_moves_decisions_at_most_the_stated_bound(
    tmp_path: Path, upstreams
) -> None:
    """docs/security.md: one key adds at most 2 % of an expert's 600 training rows (12); on
    prompts like the training ones (novelty ≤ 0.39) any key moves alpha's score by at most
    0.7 · ½ · √(0.02 · (1 + df·ν)) = 0.23 < the smallest margin there (0.75), so no decision
    changes (measured: 0.093, the same as with the weight bound alone)."""
    probe = poison(tmp_path, upstreams, [f"{p} case 7" for p in MATH])
    assert probe.added == pytest.approx(0.02 * 600)  # the influence budget is not what binds
    assert probe.bound_any_key == pytest.approx(0.234, abs=0.005)
    assert probe.moved <= probe.bound_any_key < probe.margin
    assert probe.changed == 0 and probe.moved == pytest.approx(0.093, abs=0.005)


def test_poisoning_prompts_with_unseen_words(tmp_path: Path, upstreams) -> None:
    """A word unseen in training gives these prompts leverage ~20 (novelty ~300): each event's
    weight is scaled so w·h ≤ the cap (h in the router the gateway started with), the key's 12
    rows become ~0.056 of weight, and the bound with that weight, 0.43, is below the smallest
    margin there (0.55): no decision changes (measured move 0.38; without the leverage bound
    ~0.7 and two decisions changed)."""
    probe = poison(tmp_path, upstreams, [f"{p} probe" for p in MATH])
    assert probe.added < 0.1
    assert probe.moved <= probe.bound_this_key < probe.margin
    assert probe.bound_this_key == pytest.approx(0.43, abs=0.03)
    assert probe.changed == 0
