"""The leverage bound on a domain router's feedback (docs/security.md): one shared ridge system
for every domain, the influence charged is w·h of its explicit design, one budget per key over
every domain, and the poisoning probe through a real gateway."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve.influence import SHARED_SYSTEM, leverage_of, leverage_supported, router_leverage
from tests.serve.conftest import CODE, MATH, closed_form_leverage, config_data, gateway_app

HASHING = {"kind": "hashing", "n_features": 256}
DOMAINS = {"maths": "alpha", "code": "beta"}


def domain_router(n: int = 50, **settings: Any) -> tuple[IR3DERouter, list[str]]:
    """A domain router on `n` variants of each fixture prompt (maths → alpha, code → beta),
    without balance or normalisation (the settings whose fold leverage describes)."""
    prompts = [f"{p} case {i}" for i in range(n) for p in MATH + CODE]
    labels = ["maths" if p.split(" case")[0] in MATH else "code" for p in prompts]
    options = {"normalize": False, "balance": False, **settings}
    router = IR3DERouter(HASHING, target="domain", expert_map=DOMAINS, **options)
    return router.fit(prompts, labels), prompts


def ridge_scores(router: IR3DERouter, rows: np.ndarray) -> np.ndarray:
    """Each domain's ridge score of rows (n, d): array of shape (n, k)."""
    solution = router.state_.solution
    return np.asarray(rows @ solution.coef + solution.intercept)


def test_a_domain_event_is_a_row_of_the_shared_system_with_its_leverage() -> None:
    """Both domains share one model (pooled weight 144, one df); h is the explicit design's;
    folding (x, code) with weight w moves every domain's score at x by w·h/(1 + w·h) times its
    residual (one-hot target minus prediction): the rank-one step the bound is built on."""
    router, prompts = domain_router(n=12, alpha=0.5)
    weights = [1.0] * len(prompts)
    assert leverage_supported(router)
    models = router_leverage(router)
    model = models["maths"]
    assert model is not None and models["code"] is model and model.system == SHARED_SYSTEM
    assert model.weight == 144.0
    assert model.leverage(router.transform(prompts)).sum() == pytest.approx(1 + model.df)
    for text in (MATH[0], "tell me about quokkas and wombats"):
        x = router.transform([text])[0]
        h = leverage_of(router, "code", x)
        assert h == pytest.approx(closed_form_leverage(router, prompts, x, weights), rel=1e-9)
        assert h == leverage_of(router, "maths", x)  # whichever domain the event names
        before = ridge_scores(router, x[None, :])[0]
        router.partial_fit([text], ["code"], sample_weight=[0.3])
        moved = ridge_scores(router, x[None, :])[0] - before
        expected = 0.3 * h / (1 + 0.3 * h) * (np.array([0.0, 1.0]) - before)
        np.testing.assert_allclose(moved, expected, rtol=1e-6, atol=1e-12)
        prompts, weights = [*prompts, text], [*weights, 0.3]  # the next h: the router in force


@pytest.mark.parametrize(
    "settings", [{}, {"normalize": True}, {"balance": True}, {"intercept": "penalized"}]
)
def test_other_domain_settings_have_the_weight_bound_only(settings: dict[str, Any]) -> None:
    """The default domain router (balance and normalisation on) re-weights every row of the
    event's domain and divides each score by its column's norm: no leverage model."""
    router, _ = domain_router(n=4, alpha=0.5, **settings)
    assert leverage_supported(router) is bool(not settings)
    if settings:
        assert set(router_leverage(router).values()) == {None}


def send(url: str, prompt: str, expert: str) -> httpx.Response:
    """Ask `prompt`, then tell the gateway `expert` should have answered it."""
    body = {"model": "ir3de", "messages": [{"role": "user", "content": prompt}]}
    completion = httpx.post(f"{url}/v1/chat/completions", json=body).json()["id"]
    return httpx.post(f"{url}/v1/feedback", json={"id": completion, "expert": expert})


def test_the_gateway_charges_w_h_to_one_budget_over_every_domain(tmp_path: Path, upstreams) -> None:
    """Events naming either domain are charged w·h (explicit design, the router the gateway
    started with) to the key's one budget on the shared system; an event above the cap
    (1 + 4·df)/W is folded with weight cap/h."""
    _, urls = upstreams
    router, prompts = domain_router(n=12, alpha=0.05)
    data = config_data(router.save(tmp_path / "router"), urls)
    ordinary, novel = f"{MATH[0]} case 3", "tell me about quokkas wombats and platypus habitats"
    with gateway_app(data) as (gw, url):
        model = gw.feedback.guard._models["maths"]
        answers = [send(url, text, e).json() for text, e in ((ordinary, "beta"), (novel, "alpha"))]
        spent = [gw.feedback.guard.spent("", domain) for domain in ("maths", "code")]
    h = [closed_form_leverage(router, prompts, router.transform([t])[0]) for t in (ordinary, novel)]
    cap = (1 + 4 * model.df) / model.weight
    assert h[0] < cap < h[1]
    assert (answers[0]["weight"], answers[0]["influence"]) == (1.0, pytest.approx(h[0], rel=1e-9))
    assert answers[1]["weight"] == pytest.approx(cap / h[1], rel=1e-9)
    assert answers[1]["influence"] == pytest.approx(cap, rel=1e-9)
    total = answers[0]["influence"] + answers[1]["influence"]
    assert spent == [(answers[1]["weight"], total), (1.0, total)]  # weight per domain, one budget


@dataclass(frozen=True)
class Poisoning:
    """What the domain probe measured: decisions changed, the largest move of a domain score,
    the key's weight, the smallest margin (alpha's score minus beta's), the residual ρ, the
    influence budget B and the bound ρ·φ(B)·√(W_k·h) with the key's weight (`this_key`) or
    any key's (``key_share × W``)."""

    changed: int
    moved: float
    added: float
    margin: float
    rho: float
    budget: float
    bound_any_key: float
    bound_this_key: float


def phi(budget: float) -> float:
    """φ(B) of docs/security.md."""
    return math.sqrt(math.expm1(budget)) / math.exp(budget) if budget <= math.log(2) else 0.5


def poison(
    tmp_path: Path, upstreams, fixed: list[str], alpha: float | str, **bounds: float
) -> Poisoning:
    """One key says beta (code) should have answered each of `fixed` (maths prompts) until
    refused; every domain score of `fixed` is compared before and after."""
    _, urls = upstreams
    router, _ = domain_router(alpha=alpha)
    data = config_data(router.save(tmp_path / "router"), urls)
    data["feedback"] = {"save": False, "key_share": 0.02, "key_rate_per_minute": 60000.0, **bounds}
    with gateway_app(data) as (gw, url):
        live, model = gw.slot.router, gw.feedback.guard._models["code"]
        rows = live.transform(fixed)
        before, decided = ridge_scores(live, rows), live.route(fixed)
        assert send(url, fixed[0], "gamma").status_code == 400  # not an expert: refused
        statuses = [send(url, fixed[i % len(fixed)], "beta").status_code for i in range(400)]
        after, now = ridge_scores(live, rows), live.route(fixed)
        added = gw.feedback.guard.spent("", "code")[0]
        budget = gw.feedback.guard.influence_budget["code"]
    refused = statuses.index(429)
    assert set(statuses[:refused]) == {200} and set(statuses[refused:]) == {429}
    assert model is not None and budget == bounds.get("key_influence", 0.02 * (1 + model.df))
    rho = float(np.abs(np.array([0.0, 1.0]) - before).max())  # f: the router before the key
    h = float(model.leverage(rows).max())
    return Poisoning(
        changed=sum(a.expert != b.expert for a, b in zip(now, decided, strict=True)),
        moved=float(np.abs(after - before).max()),
        added=added,
        margin=float((before[:, 0] - before[:, 1]).min()),
        rho=rho,
        budget=budget,
        bound_any_key=rho * phi(budget) * math.sqrt(0.02 * model.weight * h),
        bound_this_key=rho * phi(budget) * math.sqrt(added * h),
    )


def test_poisoning_probe_on_prompts_like_the_training_ones(tmp_path: Path, upstreams) -> None:
    """Any key moves these prompts' scores by at most ρ·φ(B)·√(0.02·W·h), and a decision
    between two domains by twice that (both scores move), below the smallest margin."""
    probe = poison(tmp_path, upstreams, [f"{p} case 7" for p in MATH], "auto")
    assert probe.added == 6.0  # 2 % of the code domain's 300 rows: the weight bound binds
    assert probe.moved <= probe.bound_this_key <= probe.bound_any_key
    assert 2 * probe.bound_any_key < probe.margin and probe.changed == 0


@pytest.mark.parametrize(("bounds", "changed"), [({}, 2), ({"key_influence": 0.1}, 0)])
def test_poisoning_probe_with_unseen_words(
    tmp_path: Path, upstreams, bounds: dict[str, float], changed: int
) -> None:
    """An unseen word with a small α (0.05): the per-event cap scales the key's events down,
    the bound holds, but with the default budget (B = 0.02·(1 + df), large as df is) twice the
    bound exceeds the margin and two decisions change; with ``key_influence = 0.1`` twice the
    bound is below the margin and none does."""
    probe = poison(tmp_path, upstreams, [f"{p} probe" for p in MATH], 0.05, **bounds)
    assert probe.added < 0.2
    assert probe.moved <= probe.bound_this_key
    assert (2 * probe.bound_this_key < probe.margin) is (changed == 0)
    assert probe.changed == changed
