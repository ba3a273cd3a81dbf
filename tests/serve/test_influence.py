"""The leverage bound on feedback (docs/security.md): the influence charged is w·h from the
closed form, a key at its influence budget is refused, and a replica charges the influence
stored with another replica's event, not its own."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve import ConfigError, parse_config
from ir3de_serve.config import FeedbackConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.guard import FeedbackGuard
from ir3de_serve.influence import group_leverage, leverage_of
from ir3de_serve.sharedlog import FeedbackEvent, encode_event, open_shared_log
from tests.serve.conftest import CODE, MATH, closed_form_leverage, config_data, gateway_app

NOVEL = "tell me about quokkas wombats and platypus habitats"


def ask(url: str, prompt: str) -> str:
    body = {"model": "ir3de", "messages": [{"role": "user", "content": prompt}]}
    return str(httpx.post(f"{url}/v1/chat/completions", json=body).json()["id"])


def test_the_leverage_is_the_closed_form(tmp_path: Path) -> None:
    prompts = MATH + [f"{p} again" for p in MATH]
    router = IR3DERouter({"kind": "hashing", "n_features": 64}, target="quality", alpha=0.3).fit(
        prompts, [{"alpha": 0.9, "beta": 0.1 * (i % 3)} for i in range(len(prompts))]
    )
    for text in (MATH[0], NOVEL):
        x = router.transform([text])[0]
        assert leverage_of(router, "alpha", x) == pytest.approx(
            closed_form_leverage(router, prompts, x), rel=1e-9
        )
    model = group_leverage(router, "alpha")
    assert model is not None
    training = model.leverage(router.transform(prompts))
    assert training.sum() == pytest.approx(1 + model.df, rel=1e-9)  # the unit of the budget
    events, weights = [NOVEL, MATH[2], NOVEL], [0.3, 1.0, 0.05]
    for text, w in zip(events, weights, strict=True):  # after folds: the rank-one inverse
        router.partial_fit([text], [{"alpha": 0.4}], sample_weight=[w])
    assert router.feedback_leverage(router.transform([NOVEL])[0], "alpha") is not None
    for text in (MATH[0], NOVEL):
        x = router.transform([text])[0]
        expected = closed_form_leverage(router, prompts + events, x, [1.0] * 12 + weights)
        assert leverage_of(router, "alpha", x) == pytest.approx(expected, rel=1e-8)


def test_the_influence_charged_is_weight_times_leverage(router_dir: Path, upstreams) -> None:
    """Through the gateway: an ordinary prompt keeps weight 1 and is charged h; a novel one is
    scaled to the per-event cap (1 + df·event_novelty)/W; both charges are w·h of the closed
    form in the router the gateway started with (not the one in force, which includes the
    first event: replicas that have folded different events must charge the same)."""
    _, urls = upstreams
    router = IR3DERouter.load(router_dir)
    with gateway_app(config_data(router_dir, urls)) as (gw, url):
        model = group_leverage(gw.slot.router, "alpha")
        assert model is not None
        cap = (1 + model.df * 4.0) / model.weight  # event_novelty's default: 4
        answers = [
            httpx.post(f"{url}/v1/feedback", json={"id": ask(url, text), "score": 0.5}).json()
            for text in (MATH[0], NOVEL)
        ]
    first, second = answers
    assert first["expert"] == "alpha"
    h_first = closed_form_leverage(router, MATH + CODE, router.transform([MATH[0]])[0])
    h_second = closed_form_leverage(router, MATH + CODE, router.transform([NOVEL])[0])
    assert h_first < cap < h_second  # the fixture's maths prompt is ordinary, the other is not
    assert first["weight"] == 1.0
    assert first["influence"] == pytest.approx(h_first, rel=1e-9)
    assert second["weight"] == pytest.approx(cap / h_second, rel=1e-9)
    assert second["influence"] == pytest.approx(cap, rel=1e-9)


def test_a_key_at_its_influence_budget_is_refused(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, feedback={"key_influence": 10.0})  # cap: 3.7 each
    with gateway_app(data) as (_gw, url):
        answers = [
            httpx.post(f"{url}/v1/feedback", json={"id": ask(url, NOVEL), "score": 1.0})
            for _ in range(30)
        ]  # beta answers it and is told it is perfect: every event is on beta
    codes = [a.status_code for a in answers]
    first_refused = codes.index(429)
    assert first_refused == 3 and set(codes[first_refused:]) == {429}
    assert {a.json()["expert"] for a in answers[:first_refused]} == {"beta"}
    spent = [a.json()["influence"] for a in answers[:first_refused]]
    assert spent[0] == pytest.approx(spent[1]) and spent[2] < spent[1]
    assert sum(spent) == pytest.approx(10.0, rel=1e-9)  # the last event is folded with what is left
    error = answers[first_refused].json()["error"]
    assert error["code"] == "feedback_budget_spent" and "key_influence" in error["message"]


def test_the_guard_caps_each_event_and_budgets_each_key() -> None:
    class Model:
        df, weight, system = 9.0, 100.0, "alpha"

        def influence_cap(self, novelty: float) -> float:
            return (1 + self.df * novelty) / self.weight

    config = FeedbackConfig(key_share=0.5, event_novelty=1.0, key_influence=0.3)
    guard = FeedbackGuard(config, {"alpha": 100.0}, {"alpha": Model()})  # type: ignore[dict-item]
    ordinary = guard.weight("k", "alpha", 0.05)  # below the cap 0.1: weight 1
    novel = guard.weight("k", "alpha", 2.0)  # scaled to the cap: w = 0.1 / 2
    last = guard.weight("k", "alpha", 2.0)  # 0.3 − 0.15 left, capped: w = 0.1 / 2 again
    rest = guard.weight("k", "alpha", 1.0)  # 0.05 left
    assert (ordinary.weight, ordinary.influence) == (1.0, pytest.approx(0.05))
    assert (novel.weight, novel.influence) == (pytest.approx(0.05), pytest.approx(0.1))
    assert last.influence == pytest.approx(0.1) and rest.influence == pytest.approx(0.05)
    with pytest.raises(GatewayError) as refused:
        guard.weight("k", "alpha", 0.01)
    assert refused.value.status == 429
    assert guard.weight("other", "alpha", 0.01).weight == 1.0  # another key has its own
    guard.refund("k", "alpha", rest)
    assert guard.spent("k", "alpha")[1] == pytest.approx(0.25)


def test_a_replica_charges_the_influence_stored_with_the_event(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    """An event another replica accepted is charged to its key as stored (here 0.4, not the
    row's leverage in this replica), so the key's next event here is refused at the budget."""
    _, urls = upstreams
    log = f"sqlite:///{tmp_path / 'l.db'}"
    data = config_data(router_dir, urls, feedback={
        "shared_log": log, "save_to": str(tmp_path / "state"), "key_influence": 0.4,
    })  # fmt: skip
    with gateway_app(data) as (gw, url):
        router = gw.slot.router
        row = router.transform([MATH[0]])[0]
        own = leverage_of(router, "alpha", row)
        assert own is not None and abs(own - 0.4) > 0.1
        event = FeedbackEvent("elsewhere-1", "alpha", 0.5, 1.0, "", "other-replica", row, 0.4)
        writer = open_shared_log(log)
        writer.append(event.completion_id, encode_event(event))
        writer.close()
        shared = gw.feedback.shared
        assert shared is not None
        deadline = time.monotonic() + 20
        while shared.cursor < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shared.cursor == 1
        assert gw.feedback.guard.spent("", "alpha") == (1.0, 0.4)
        refused = httpx.post(f"{url}/v1/feedback", json={"id": ask(url, MATH[1]), "score": 0.5})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "feedback_budget_spent"


def test_the_config_knobs_are_checked(router_dir: Path) -> None:
    urls = {"alpha": "http://127.0.0.1:9", "beta": "http://127.0.0.1:9"}
    config = parse_config(config_data(router_dir, urls))
    assert config.feedback.event_novelty == 4.0 and config.feedback.key_influence is None
    for knob, value in (("event_novelty", -1.0), ("key_influence", 0.0), ("key_influence", "x")):
        with pytest.raises(ConfigError, match=f"feedback.{knob} must be a number"):
            parse_config(config_data(router_dir, urls, feedback={knob: value}))


def test_the_stated_bound_holds_whatever_the_key_and_the_others_send() -> None:
    """docs/security.md's formula, checked: a key folds events on random prompts (most with
    words never trained) through the guard, interleaved with another key's events; its move of
    every prompt's ridge score stays within ρ·φ(B)·√(W_k·h(z)) of the router that folded the
    other key's events only."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(40)]
    train = [" ".join(rng.choice(words[:30], 6)) for _ in range(80)]
    scores = [{"alpha": float(rng.uniform(0.2, 0.9)), "beta": 0.5} for _ in train]
    spec = {"kind": "hashing", "n_features": 64}
    with_key = IR3DERouter(spec, target="quality", alpha=0.5).fit(train, scores)
    others_only = IR3DERouter(spec, target="quality", alpha=0.5).fit(train, scores)
    model = group_leverage(with_key, "alpha")
    assert model is not None
    guard = FeedbackGuard(FeedbackConfig(key_share=0.1), {"alpha": 80.0}, {"alpha": model})
    probes = [" ".join(rng.choice(words, 5)) for _ in range(40)]  # words 30-39: never trained
    z = with_key.transform(probes + train)
    h0 = model.leverage(z)
    events: list[tuple[np.ndarray, float]] = []
    for i in range(200):
        other = with_key.transform([" ".join(rng.choice(words, 4))])
        label = [{"alpha": float(rng.uniform(0.2, 0.9))}]
        with_key.partial_fit_features(other, label)
        others_only.partial_fit_features(other, label)
        x = with_key.transform([probes[i % 40] if i % 3 else train[i % 80]])[0]
        try:
            charge = guard.weight("k", "alpha", leverage_of(with_key, "alpha", x))
        except GatewayError:
            break
        events.append((x, 0.2 if i % 2 else 0.9))
        with_key.partial_fit_features(
            x[None, :], [{"alpha": events[-1][1]}], sample_weight=[charge.weight]
        )
    weight, influence = guard.spent("k", "alpha")
    budget = guard.influence_budget["alpha"]
    assert influence == pytest.approx(budget) and weight < 8.0  # the influence budget binds

    def alpha_scores(router: IR3DERouter, rows: np.ndarray) -> np.ndarray:
        solution = router.state_.solution
        return np.asarray(rows @ solution.coef[:, 0] + solution.intercept[0])

    residuals = [y - alpha_scores(others_only, x[None, :])[0] for x, y in events]
    rho = float(np.abs(residuals).max())
    phi = np.sqrt(np.expm1(budget)) / np.exp(budget) if budget <= np.log(2) else 0.5
    bound = rho * phi * np.sqrt(weight * h0)
    moved = np.abs(alpha_scores(with_key, z) - alpha_scores(others_only, z))
    assert (moved <= bound).all()
    assert moved.max() > 0.2 * bound[moved.argmax()]  # the key did move scores
