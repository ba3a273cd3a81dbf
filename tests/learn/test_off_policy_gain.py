"""The gain of a candidate over the logging policy: paired intervals that hold the truth."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core.learn.off_policy_gain import gain_report


def synthetic_log(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """A 3-expert bandit with known mean rewards; an ε-greedy logger; a deterministic candidate.

    Returns: rewards (n,), chosen (n,), propensities (n,), logging spread (n, 3), candidate
    π (n, 3), the candidate's true value, the logger's true value.
    """
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 2, size=n)  # two kinds of prompt
    means = np.array([[0.8, 0.3, 0.5], [0.2, 0.7, 0.4]])[context]  # (n, 3)
    spread = np.full((n, 3), 0.1)
    spread[np.arange(n), 0] = 0.8  # the logger mostly picks expert 0
    chosen = np.array([rng.choice(3, p=row) for row in spread])
    rewards = (rng.random(n) < means[np.arange(n), chosen]).astype(float)  # Bernoulli
    pi = np.zeros((n, 3))
    pi[np.arange(n), np.where(context == 0, 0, 1)] = 1.0  # the candidate picks the best
    truth = float((pi * means).sum(axis=1).mean())
    logging_truth = float((spread * means).sum(axis=1).mean())
    return rewards, chosen, spread[np.arange(n), chosen], spread, pi, truth, logging_truth


def test_the_intervals_hold_the_true_value_and_gain_on_most_seeds() -> None:
    covered = {"snips": 0, "dr": 0, "snips_gain": 0, "dr_gain": 0}
    seeds = range(40)
    for seed in seeds:
        r, a, mu, spread, pi, truth, logging_truth = synthetic_log(600, seed)
        model = np.full_like(pi, 0.5)  # a poor reward model: DR must still cover
        report = gain_report(r, a, mu, pi, model, logging_spread=spread, bootstrap=300, seed=seed)
        covered["snips"] += report.values.snips.contains(truth)
        covered["dr"] += report.values.dr.contains(truth)
        # the gain is over the logged rewards' mean: its truth on these prompts is the
        # candidate's value minus the logger's (expected) value
        covered["snips_gain"] += report.snips_gain.contains(truth - logging_truth)
        covered["dr_gain"] += report.dr_gain.contains(truth - logging_truth)
        assert report.unsupported == 0.0
    for name, count in covered.items():
        assert count >= 0.85 * len(seeds), (name, count)  # 95 % intervals, 40 seeds


def test_a_clearly_better_candidate_beats_the_logger_and_a_worse_one_does_not() -> None:
    r, a, mu, spread, pi, _, _ = synthetic_log(2000, 7)
    better = gain_report(r, a, mu, pi, logging_spread=spread, bootstrap=300)
    worse_pi = pi[:, [1, 0, 2]]  # the worst expert of each kind of prompt
    worse = gain_report(r, a, mu, worse_pi, logging_spread=spread, bootstrap=300)
    assert better.beats_logging() and better.dr_gain.low > 0.1
    assert not worse.beats_logging() and worse.dr_gain.high < 0
    assert better.to_dict()["gain"]["dr"]["low"] == better.dr_gain.low


def test_mass_where_the_logger_never_chose_is_reported_unsupported() -> None:
    r, _, _, spread, pi, _, _ = synthetic_log(100, 0)
    greedy = np.zeros_like(spread)
    greedy[:, 0] = 1.0  # a logger that never explores
    report = gain_report(r, np.zeros(100, int), np.ones(100), pi, logging_spread=greedy)
    assert report.unsupported == float((pi[:, 1:]).sum(axis=1).mean())
    assert report.unsupported > 0.3


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 60))
def test_the_logging_policy_itself_has_no_snips_gain(seed: int, n: int) -> None:
    r, a, mu, spread, _, _, _ = synthetic_log(n, seed)
    report = gain_report(r, a, mu, spread, logging_spread=spread, bootstrap=50, seed=seed)
    assert abs(report.snips_gain.value) < 1e-12
    assert report.snips_gain.low <= 1e-12 <= report.snips_gain.high + 2e-12
    assert report.unsupported == 0.0


def unseen_gain_log(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """A greedy logger (expert 0 always, μ = 1) and a candidate that is worse where it differs.

    Expert 0 earns 0.8 on kind-A prompts and 0.2 on kind-B; the candidate keeps expert 0 on A
    and sends B to expert 1, which earns 0.1 there, though its reward model claims 0.9. On the
    prompts the log shows (A) the candidate looks better than the logger's mean (0.5); its true
    gain is 0.5·0.8 + 0.5·0.1 − 0.5 = −0.05.
    """
    rng = np.random.default_rng(seed)
    kind_b = rng.random(n) < 0.5
    spread = np.zeros((n, 2))
    spread[:, 0] = 1.0
    rewards = (rng.random(n) < np.where(kind_b, 0.2, 0.8)).astype(float)
    pi = np.zeros((n, 2))
    pi[np.arange(n), kind_b.astype(int)] = 1.0
    model = np.where(kind_b[:, None], [0.2, 0.9], [0.8, 0.1])
    return rewards, np.zeros(n, np.intp), np.ones(n), spread, pi, model


def test_a_gain_that_only_shows_through_unseen_mass_is_not_promoted() -> None:
    r, a, mu, spread, pi, model = unseen_gain_log(2000, 3)
    truth_gain = 0.5 * 0.8 + 0.5 * 0.1 - float(r.mean())
    for known in (spread, None):  # with the logging spread (exact m) and without it
        report = gain_report(r, a, mu, pi, model, logging_spread=known, bootstrap=300)
        assert report.dr_gain.value > 0.2  # the reward model's fill makes it look better
        assert not report.beats_logging()
        assert report.snips_gain.low < 0 and report.dr_gain.low < 0
        assert report.snips_gain.contains(truth_gain) and report.dr_gain.contains(truth_gain)
        # the gain's interval spans what the value's spans: at least m · (r_max − r_min) wide
        assert report.dr_gain.high - report.dr_gain.low >= 0.5 - 0.01
    assert report.unsupported is None
    exact = gain_report(r, a, mu, pi, model, logging_spread=spread, bootstrap=300)
    assert exact.unsupported == 0.5 * 0 + float(pi[:, 1].mean())
    # the supported part alone (what the gain's interval used to be) would have promoted it
    seen = np.flatnonzero(pi[:, 0] == 1)
    assert r[seen].mean() - r.mean() > 0.25
