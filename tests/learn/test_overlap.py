"""Overlap: a log that cannot show the candidate's choices must say so and widen its intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ir3de_cli.main import main
from ir3de_core.learn.off_policy import candidate_probabilities, off_policy_report
from ir3de_core.learn.replay import replay
from tests.learn.conftest import EXPERTS, fit_router, make_prompts

SEEDS = range(40)


def bandit_log(n: int, seed: int, *, blind: float = 0.0) -> dict[str, np.ndarray | float]:
    """A 3-expert log with known propensities; on a share `blind` of the prompts the logging
    policy never chooses expert 2, the candidate's favourite (its value there is 0.9)."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(0.1, 0.7, size=(n, 3))
    means[:, 2] = 0.9
    mu = np.full((n, 3), 1 / 3)
    hidden = rng.random(n) < blind
    mu[hidden] = (0.5, 0.5, 0.0)
    chosen = (rng.random((n, 1)) > mu.cumsum(axis=1)).sum(axis=1)
    rewards = (rng.random(n) < means[np.arange(n), chosen]).astype(float)
    target = np.tile([0.1, 0.1, 0.8], (n, 1))
    model = np.clip(means + rng.normal(scale=0.1, size=means.shape), 0, 1)
    return {
        "rewards": rewards, "chosen": chosen, "propensities": mu[np.arange(n), chosen],
        "target": target, "model": model, "spread": mu,
        "true": float((target * means).sum(axis=1).mean()),
        "unsupported": float(0.8 * hidden.mean()),
    }  # fmt: skip


def report(log: dict, seed: int, *, spread: bool):
    return off_policy_report(
        log["rewards"], log["chosen"], log["propensities"], log["target"], log["model"],
        logging_spread=log["spread"] if spread else None, reward_range=(0.0, 1.0),
        bootstrap=400, seed=seed,
    )  # fmt: skip


def coverage(blind: float, *, spread: bool) -> dict[str, float]:
    hits = {"ips": 0, "snips": 0, "dr": 0}
    for seed in SEEDS:
        log = bandit_log(600, seed, blind=blind)
        r = report(log, seed, spread=spread)
        for name in hits:
            hits[name] += getattr(r, name).contains(log["true"])
    return {name: h / len(SEEDS) for name, h in hits.items()}


def test_intervals_cover_the_true_value_on_a_covered_log() -> None:
    for share in coverage(0.0, spread=True).values():
        assert share >= 0.9
    log = bandit_log(600, 0)
    r = report(log, 0, spread=False)
    assert r.overlap.reliable and r.overlap.warning() is None
    assert r.overlap.unsupported == 0 and r.overlap.weight_low <= 1 <= r.overlap.weight_high


@pytest.mark.parametrize("spread", [True, False])
def test_intervals_still_cover_when_the_log_misses_the_candidate(spread) -> None:
    # 40% of the prompts never show expert 2: IPS alone sees only the supported part
    for name, share in coverage(0.4, spread=spread).items():
        assert share >= 0.9, (name, share)


def test_unsupported_mass_is_exact_with_the_spread_and_bounded_without() -> None:
    log = bandit_log(2000, 3, blind=0.4)
    exact = report(log, 0, spread=True)
    assert exact.overlap.exact and exact.overlap.unsupported == pytest.approx(log["unsupported"])
    assert not exact.overlap.reliable and "never chose" in str(exact.overlap.warning())
    width = exact.ips.high - exact.ips.low
    assert width > log["unsupported"]  # the unknown part spans its whole range
    guessed = report(log, 0, spread=False)
    assert guessed.overlap.weight_high < 1 and not guessed.overlap.reliable
    assert guessed.overlap.unsupported >= 0.5 * log["unsupported"]
    # the stated interval of the supported part alone (what was reported before) misses
    naive_high = exact.ips.high - log["unsupported"]
    assert naive_high < log["true"]


def test_a_misaligned_log_is_refused_with_the_spread_and_flagged_without() -> None:
    log = bandit_log(1000, 5)
    log["spread"] = np.roll(log["spread"], 1, axis=1)  # columns in another order
    log["spread"][:, 0] += 0.01
    with pytest.raises(ValueError, match="misaligned"):
        report(log, 0, spread=True)
    wrong = bandit_log(1000, 5)
    wrong["propensities"] = wrong["propensities"] / 3  # too small: weights three times too big
    r = report(wrong, 0, spread=False)
    assert not r.overlap.consistent and not r.overlap.reliable
    assert "misaligned" in str(r.overlap.warning())


def test_a_replay_logs_the_spread_its_propensities_come_from() -> None:
    prompts, scores = make_prompts(150, seed=7)
    router = fit_router(explore="thompson", explore_share=0.5, explore_strength=1.0,
                        explore_seed=0)  # fmt: skip
    log = replay(router, prompts, scores)
    assert log.spread is not None and log.spread.shape == (150, 3)
    np.testing.assert_allclose(log.spread.sum(axis=1), 1.0)
    np.testing.assert_allclose(log.spread[np.arange(150), log.chosen], log.propensities)
    candidate = fit_router(seed=1)
    pi, quality = candidate_probabilities(candidate.route(prompts), list(EXPERTS))
    r = off_policy_report(log.rewards, log.chosen, log.propensities, pi, quality,
                          logging_spread=log.spread, seed=0)  # fmt: skip
    true = float((pi * scores).sum(axis=1).mean())
    assert r.overlap.exact and 0 <= r.overlap.unsupported < 1
    for e in (r.ips, r.snips, r.dr):
        assert e.contains(true), (e, true)
    shifted = np.roll(log.propensities, 1)  # rewards and propensities one step apart
    with pytest.raises(ValueError, match="misaligned"):
        off_policy_report(log.rewards, log.chosen, shifted, pi, logging_spread=log.spread)


def test_a_custom_decide_without_a_spread_logs_none() -> None:
    prompts, scores = make_prompts(20, seed=8)
    log = replay(fit_router(), prompts, scores, decide=lambda r, p: (r.route([p])[0].expert, 1.0))
    assert log.spread is None


def test_the_cli_warns_when_the_log_never_shows_the_models_choices(tmp_path, capsys) -> None:
    prompts, scores = make_prompts(300, seed=9)
    path = tmp_path / "log.jsonl"
    with path.open("w") as f:  # a logger that always sent "chat", with certainty
        for i, p in enumerate(prompts):
            event = {"prompt": p, "expert": "chat", "propensity": 1.0, "reward": scores[i, 2]}
            f.write(json.dumps(event) + "\n")
    model = fit_router().save(tmp_path / "model")
    out = tmp_path / "ope.json"
    assert main(["evaluate", "--model", str(model), "--log", str(path), "--json", str(out)]) == 0
    assert "never chose" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["overlap"]["unsupported"] > 0.5 and report["overlap"]["exact"] is False
    pi, _ = candidate_probabilities(fit_router().route(prompts), list(EXPERTS))
    true = float((pi * scores).sum(axis=1).mean())
    assert report["dr"]["low"] <= true <= report["dr"]["high"]
