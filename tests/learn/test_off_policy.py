"""Off-policy evaluation: IPS, SNIPS and DR on simulated logs whose true values are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ir3de_cli.main import main
from ir3de_core.learn.off_policy import off_policy_report, read_logged_feedback
from tests.learn.conftest import EXPERTS, fit_router, make_prompts


def simulated_log(n: int, seed: int) -> dict[str, np.ndarray]:
    """Contexts with known mean rewards (n, 3), a stochastic logging policy and a candidate."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(0.1, 0.9, size=(n, 3))
    logits = rng.normal(size=(n, 3))
    mu = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    mu = 0.8 * mu + 0.2 / 3  # every expert logged with probability ≥ 1/15
    chosen = np.array([rng.choice(3, p=row) for row in mu])
    rewards = (rng.random(n) < means[np.arange(n), chosen]).astype(float)
    noisy = means + rng.normal(scale=0.1, size=means.shape)
    target = np.eye(3)[noisy.argmax(axis=1)]  # a good but imperfect candidate
    return {
        "means": means, "mu": mu, "chosen": chosen, "rewards": rewards, "target": target,
        "true": float((target * means).sum(axis=1).mean()),
        "logging_true": float((mu * means).sum(axis=1).mean()),
    }  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_estimate_covers_the_true_value(seed) -> None:
    log = simulated_log(3000, seed)
    report = off_policy_report(
        log["rewards"], log["chosen"], log["mu"][np.arange(3000), log["chosen"]],
        log["target"], log["means"], seed=seed,
    )  # fmt: skip
    for estimate in (report.ips, report.snips, report.dr):
        assert estimate.contains(log["true"]), (estimate, log["true"])
    assert report.logging.contains(log["logging_true"])
    assert report.dr.high - report.dr.low < report.ips.high - report.ips.low  # a model helps
    assert report.ips.value > report.logging.value + 0.1  # the candidate is really better


def test_doubly_robust_equals_ips_without_a_reward_model() -> None:
    log = simulated_log(500, 3)
    mu = log["mu"][np.arange(500), log["chosen"]]
    report = off_policy_report(log["rewards"], log["chosen"], mu, log["target"])
    zero = off_policy_report(log["rewards"], log["chosen"], mu, log["target"], np.zeros((500, 3)))
    assert report.dr == report.ips == zero.dr
    w = log["target"][np.arange(500), log["chosen"]] / mu
    assert report.ips.value == pytest.approx(float(np.mean(w * log["rewards"])))
    assert report.snips.value == pytest.approx(float((w * log["rewards"]).sum() / w.sum()))


def test_intervals_are_reproducible_and_seeded() -> None:
    log = simulated_log(400, 4)
    args = (log["rewards"], log["chosen"], log["mu"][np.arange(400), log["chosen"]], log["target"])
    assert off_policy_report(*args, seed=5) == off_policy_report(*args, seed=5)
    assert off_policy_report(*args, seed=5).ips != off_policy_report(*args, seed=6).ips


@pytest.mark.parametrize(
    ("change", "message"),
    [({"propensities": np.zeros(3)}, "propensities"), ({"rewards": [1.0, np.nan, 0.0]}, "finite")],
)
def test_bad_logs_are_refused(change, message) -> None:
    values = {"rewards": [1.0, 0.0, 1.0], "chosen": [0, 1, 0], "propensities": [0.5] * 3,
              "target": np.eye(2)[[0, 1, 1]]}  # fmt: skip
    values.update(change)
    with pytest.raises(ValueError, match=message):
        off_policy_report(**values)


def _logged_events(n: int) -> tuple[list[dict], float]:
    """An exploring router's decisions on n prompts with rewards, and the true value of the
    greedy router (the candidate saved for the CLI)."""
    prompts, scores = make_prompts(n, seed=11)
    router = fit_router(explore="thompson", explore_share=0.6, explore_strength=1.0,
                        explore_seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    events = []
    for i, d in enumerate(router.route(prompts)):
        reward = float(rng.random() < scores[i, EXPERTS.index(d.expert)])
        events.append({"id": f"c{i}", "prompt": prompts[i], "expert": d.expert,
                       "propensity": d.propensity, "reward": reward})  # fmt: skip
    greedy = fit_router().route(prompts)
    true = float(np.mean([scores[i, EXPERTS.index(d.expert)] for i, d in enumerate(greedy)]))
    return events, true


def test_the_cli_estimates_a_saved_router_on_a_gateway_log(tmp_path, capsys) -> None:
    events, true = _logged_events(1500)
    path = tmp_path / "log.jsonl"
    with path.open("w") as f:
        for e in events:  # the gateway's two logs, interleaved: decisions, then feedback
            decision = {k: v for k, v in e.items() if k != "reward"}
            f.write(json.dumps({**decision, "rule": "best", "router_version": 1}) + "\n")
            f.write(json.dumps({"id": e["id"], "expert": e["expert"],
                                "scores": {e["expert"]: e["reward"]}}) + "\n")  # fmt: skip
    f_log = read_logged_feedback(path)
    assert len(f_log.prompts) == 1500 and (f_log.propensities <= 1).all()
    model = fit_router().save(tmp_path / "model")
    out = tmp_path / "ope.json"
    code = main(["evaluate", "--model", str(model), "--log", str(path), "--json", str(out)])
    assert code == 0
    assert "doubly robust" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["n"] == 1500
    for name in ("ips", "snips", "dr"):
        assert report[name]["low"] <= true <= report[name]["high"], (name, report[name], true)


def test_the_cli_says_what_a_log_lacks(tmp_path, capsys) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"prompt": "hi", "expert": "math", "reward": 1.0}) + "\n")
    model = fit_router().save(tmp_path / "model")
    assert main(["evaluate", "--model", str(model), "--log", str(path)]) == 2
    assert "propensity" in capsys.readouterr().err


def test_estimates_stay_in_the_rewards_range_when_every_expert_is_logged() -> None:
    """A rare expert (logged with probability 0.05) chosen 4 times in 40 and always right: the
    importance weights (20) push IPS to 2 on rewards in [0, 1]; a policy's value cannot leave the
    rewards' range, so neither does any estimate or interval (nothing here is unseen)."""
    n = 40
    spread = np.tile([0.95, 0.05], (n, 1))
    chosen = np.zeros(n, dtype=int)
    chosen[:4] = 1
    rewards = (chosen == 1).astype(float)
    report = off_policy_report(
        rewards, chosen, spread[np.arange(n), chosen], np.tile([0.0, 1.0], (n, 1)),
        logging_spread=spread, reward_range=(0.0, 1.0),
    )  # fmt: skip
    assert report.overlap.unsupported == 0.0
    assert float(np.mean(rewards * (chosen == 1) / 0.05)) == pytest.approx(2.0)  # unclipped IPS
    for estimate in (report.ips, report.snips, report.dr):
        assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0, estimate
    assert report.ips.value == 1.0
