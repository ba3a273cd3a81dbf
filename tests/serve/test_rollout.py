"""Shadow, promote and rollback on a real gateway (uvicorn on loopback, the openai SDK)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from ir3de_core import IR3DERouter
from tests.serve.conftest import CODE, MATH, config_data, fit_router, gateway_app

ADMIN = {"authorization": "Bearer adm"}
EXPLORE = {"explore": "thompson", "explore_strength": 5.0, "explore_share": 0.5, "explore_seed": 0}


@pytest.fixture
def admin_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IR3DE_TEST_ADMIN", "adm")
    return "IR3DE_TEST_ADMIN"


def shadow_config(
    tmp_path: Path, urls: dict[str, str], admin_key: str, candidate: IR3DERouter, **shadow: Any
) -> dict[str, Any]:
    """Live: alpha answers math; the candidate (saved to a folder) is shadowed."""
    live = fit_router().save(tmp_path / "prod")
    path = candidate.save(tmp_path / "candidate")
    return config_data(
        live,
        urls,
        server={
            "admin_key_env": admin_key,
            "decision_log": str(tmp_path / "decisions.jsonl"),
            "log_prompts": True,
        },
        feedback={"log": str(tmp_path / "feedback.jsonl")},
        shadow={"router": str(path), "name": "cand", **shadow},
    )


def chat(client: OpenAI, prompt: str) -> tuple[str, str]:
    """The expert that answered and the completion id."""
    raw = client.chat.completions.with_raw_response.create(
        model="ir3de", messages=[{"role": "user", "content": prompt}]
    )
    return raw.headers["x-ir3de-expert"], raw.parse().id


def score(url: str, completion_id: str, value: float) -> None:
    posted = httpx.post(
        f"{url}/v1/feedback", json={"id": completion_id, "score": value}, headers=ADMIN
    )
    assert posted.status_code == 200, posted.text


def test_the_shadow_decides_and_logs_but_its_expert_is_never_called(
    tmp_path: Path, upstreams, admin_key: str
) -> None:
    fakes, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    with gateway_app(shadow_config(tmp_path, urls, admin_key, flipped)) as (_, url):
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        answered = [chat(client, p)[0] for p in MATH]
        report = httpx.get(f"{url}/admin/shadow", headers=ADMIN).json()
        assert httpx.get(f"{url}/admin/shadow").status_code == 401  # the admin key is required
    assert answered == ["alpha"] * len(MATH)
    assert fakes["beta"].bodies == []  # the candidate picks beta for math, never called
    lines = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert [line["shadow_expert"] for line in lines] == ["beta"] * len(MATH)
    assert all(line["shadow_propensity"] == 0.0 for line in lines)  # π(alpha | math) = 0
    assert all(line["shadow_version"] == "cand" for line in lines)
    assert report["decided"] == len(MATH) and report["events"] == 0
    assert report["estimate"] is None


def test_the_shadow_estimate_promote_and_rollback(
    tmp_path: Path, upstreams, admin_key: str
) -> None:
    _, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    data = shadow_config(tmp_path, urls, admin_key, flipped)
    data["policy"] = EXPLORE
    with gateway_app(data) as (_, url):
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        for i in range(60):
            expert, completion_id = chat(client, (MATH + CODE)[i % 12])
            good = (expert == "alpha") == (i % 12 < len(MATH))
            score(url, completion_id, 0.9 if good else 0.2)
        report = httpx.get(f"{url}/admin/shadow", headers=ADMIN).json()
        estimate = report["estimate"]
        assert report["events"] == 60
        # the candidate sends math to beta and code to alpha: worse by 0.7 on every prompt
        assert estimate["gain"]["dr"]["high"] < 0 and estimate["gain"]["snips"]["high"] < 0
        assert estimate["beats_logging"] is False
        assert estimate["unsupported"] == 0.0  # the live policy explores every expert
        promoted = httpx.post(f"{url}/admin/promote", headers=ADMIN)
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["promoted"] == "cand"
        after = [chat(client, p)[0] for p in MATH[:3]]
        assert httpx.get(f"{url}/admin/shadow", headers=ADMIN).status_code == 404
        rolled = httpx.post(f"{url}/admin/rollback", headers=ADMIN)
        assert rolled.status_code == 200, rolled.text
        back = [chat(client, p)[0] for p in MATH[:3]]
        versions = httpx.get(f"{url}/admin/versions", headers=ADMIN).json()
        metrics = httpx.get(f"{url}/metrics", headers=ADMIN).text
    assert after.count("beta") >= 2 and back.count("alpha") >= 2  # (the policy explores)
    gauges = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith(("ir3de_shadow", "ir3de_router_promotions", "ir3de_router_rollbacks"))
    }
    dr = estimate["gain"]["dr"]
    assert gauges['ir3de_shadow_dr_gain{bound="high"}'] == pytest.approx(dr["high"])
    assert gauges['ir3de_shadow_dr_gain{bound="low"}'] == pytest.approx(dr["low"])
    assert gauges["ir3de_shadow_events"] == 60.0
    assert gauges["ir3de_router_promotions_total"] == 1.0
    assert gauges["ir3de_router_rollbacks_total"] == 1.0
    in_force = f'ir3de_router_version_in_force{{version="{promoted.json()["previous"]}"}} 1.0'
    assert in_force in metrics
    assert rolled.json()["rolled_back_to"] == promoted.json()["previous"]
    assert {v["name"] for v in versions["versions"]} == {"cand", promoted.json()["previous"]}
    assert versions["current"] == promoted.json()["previous"]
    assert [h["action"] for h in versions["history"]] == ["keep", "keep", "promote", "rollback"]
    assert IR3DERouter.load(tmp_path / "prod").route([MATH[0]])[0].expert == "alpha"


def test_a_better_candidate_is_promoted_automatically(
    tmp_path: Path, upstreams, admin_key: str
) -> None:
    _, urls = upstreams
    data = shadow_config(
        tmp_path,
        urls,
        admin_key,
        fit_router(),
        auto_promote=True,
        min_events=20,
        check_every=10,
        bootstrap=200,
    )
    fit_router(good_at_math="beta", good_at_code="alpha").save(tmp_path / "prod")  # live: wrong
    data["policy"] = EXPLORE
    with gateway_app(data) as (gw, url):
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        for i in range(40):
            expert, completion_id = chat(client, (MATH + CODE)[i % 12])
            good = (expert == "alpha") == (i % 12 < len(MATH))
            score(url, completion_id, 0.9 if good else 0.2)
            if gw.rollout.shadow is None:
                break
        versions = httpx.get(f"{url}/admin/versions", headers=ADMIN).json()
        answered = [chat(client, p)[0] for p in MATH[:4]]
    promotions = [h for h in versions["history"] if h["action"] == "promote"]
    assert len(promotions) == 1 and promotions[0]["name"] == "cand"
    assert promotions[0]["note"].startswith("auto: DR gain +")
    assert versions["current"] == "cand"
    assert answered.count("alpha") >= 3


def test_an_unroutable_version_is_refused_and_the_router_in_force_stays(
    tmp_path: Path, upstreams, admin_key: str
) -> None:
    _, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    with gateway_app(shadow_config(tmp_path, urls, admin_key, flipped)) as (gw, url):
        kept = gw.rollout.store.keep(flipped, "broken")
        arrays = gw.rollout.store.folder / kept / "arrays.npz"
        arrays.write_bytes(arrays.read_bytes()[:-100])  # a truncated file
        refused = httpx.post(f"{url}/admin/promote", json={"version": "broken"}, headers=ADMIN)
        missing = httpx.post(f"{url}/admin/promote", json={"version": "nope"}, headers=ADMIN)
        traversal = httpx.post(f"{url}/admin/promote", json={"version": "../prod"}, headers=ADMIN)
        nothing = httpx.post(f"{url}/admin/rollback", headers=ADMIN)
        version = gw.slot.version
        expert = chat(OpenAI(base_url=f"{url}/v1", api_key="unused"), MATH[0])[0]
        kept_names = [v.name for v in gw.rollout.store.kept()]
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "router_refused"
    assert str(tmp_path) not in refused.text  # no server path in the message
    assert missing.status_code == 404 and traversal.status_code == 409
    assert nothing.status_code == 409
    assert version == 1 and expert == "alpha"
    assert kept_names == ["broken"]  # nothing kept for a promotion that was refused


def test_with_a_shared_log_a_promotion_is_a_log_entry_and_the_router_folder_stays(
    tmp_path: Path, upstreams, admin_key
) -> None:
    _, urls = upstreams
    flipped = fit_router(good_at_math="beta", good_at_code="alpha")
    data = shadow_config(tmp_path, urls, admin_key, flipped)
    data["feedback"].update(shared_log="sqlite", save_to=str(tmp_path / "state"))
    with gateway_app(data) as (gw, url):
        answer = httpx.post(f"{url}/admin/promote", headers=ADMIN)
        again = httpx.post(f"{url}/admin/promote", json={"version": "nope"}, headers=ADMIN)
        expert = chat(OpenAI(base_url=f"{url}/v1", api_key="unused"), MATH[0])[0]
        versions = httpx.get(f"{url}/admin/versions", headers=ADMIN).json()
        metrics = httpx.get(f"{url}/metrics", headers=ADMIN).text
        shadow = gw.rollout.shadow
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["promoted"] == "cand" and body["applied"] and body["sequence"] == 1
    assert again.status_code == 404  # a version this replica does not keep
    assert expert == "beta" and shadow is None  # the candidate is in force, no longer shadowed
    assert versions["current"] == "cand" and len(versions["previous"]) == 1
    assert 'ir3de_router_version_in_force{version="cand"} 1.0' in metrics
    assert "ir3de_router_promotions_total 1.0" in metrics
    # the router folder stays the base every replica starts from
    assert IR3DERouter.load(tmp_path / "prod").route([MATH[0]])[0].expert == "alpha"
    kept = IR3DERouter.load(tmp_path / "prod.versions" / versions["previous"][0])
    assert kept.route([MATH[0]])[0].expert == "alpha"  # the router in force before, kept


def test_a_kept_version_is_shadowed_through_the_admin_endpoint(
    tmp_path: Path, upstreams, admin_key: str
) -> None:
    fakes, urls = upstreams
    data = shadow_config(tmp_path, urls, admin_key, fit_router())
    del data["shadow"]
    with gateway_app(data) as (gw, url):
        assert httpx.get(f"{url}/admin/shadow", headers=ADMIN).status_code == 404
        gw.rollout.store.keep(fit_router(good_at_math="beta", good_at_code="alpha"), "v2")
        body = {"version": "v2"}
        assert httpx.post(f"{url}/admin/shadow", json=body).status_code == 401
        assert httpx.post(f"{url}/admin/promote", json=body).status_code == 401
        started = httpx.post(f"{url}/admin/shadow", json=body, headers=ADMIN)
        assert started.status_code == 200, started.text
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        answered = [chat(client, p)[0] for p in MATH[:3]]
        report = httpx.get(f"{url}/admin/shadow", headers=ADMIN).json()
        promoted = httpx.post(f"{url}/admin/promote", headers=ADMIN).json()
        after = chat(client, MATH[0])[0]
    assert answered == ["alpha"] * 3 and after == "beta"
    assert report["candidate"] == "v2" and report["decided"] == 3
    assert promoted["promoted"] == "v2"
    assert len(fakes["beta"].bodies) == 1  # the shadow never called beta; the promoted did
