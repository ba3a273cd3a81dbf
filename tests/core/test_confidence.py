"""`fit_temperature`: the temperature of the held-out likelihood's optimum, in any table shape."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from ir3de_core.decide.confidence import _log_sum_exp, fit_temperature


def _reference_loss(table: np.ndarray, weights: np.ndarray, t: float) -> float:
    return float(-(weights * log_softmax(table / t, axis=1)).sum(axis=1).mean())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 300),
    k=st.integers(1, 400),
    scale=st.sampled_from([1e-3, 1.0, 50.0]),
)
def test_chunked_log_sum_exp_equals_scipy(seed: int, n: int, k: int, scale: float) -> None:
    table = np.random.default_rng(seed).normal(size=(n, k)) * scale
    centred = table - table.max(axis=1, keepdims=True)
    for t in (1e-3 * scale, scale, 30.0 * scale):
        want = np.log(np.exp(centred / t).sum(axis=1))
        np.testing.assert_allclose(_log_sum_exp(centred, t), want, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 200), k=st.integers(2, 300))
def test_fitted_temperature_minimises_the_log_softmax_loss(seed: int, n: int, k: int) -> None:
    """Against the plain n × k log-softmax loss: the fitted T is its minimiser (to the
    optimiser's tolerance), whether targets are indices or distributions over tied columns."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    table = rng.normal(size=(n, k))
    table[np.arange(n), truth] += rng.uniform(0.0, 3.0)
    flip = rng.random(n) < 0.3
    truth[flip] = rng.integers(0, k, size=int(flip.sum()))
    weights = np.zeros((n, k))
    weights[np.arange(n), truth] = 1.0
    t = fit_temperature(table, truth)
    spread = float(np.std(table))
    best = minimize_scalar(
        lambda log_t: _reference_loss(table, weights, spread * np.exp(log_t)),
        bounds=(-7.0, 7.0), method="bounded", options={"xatol": 1e-3},
    )  # fmt: skip
    reference = spread * float(np.exp(best.x))
    chosen, optimum = _reference_loss(table, weights, t), _reference_loss(table, weights, reference)
    if t <= reference * (1 + 5e-3):
        assert chosen <= optimum + 1e-6
    else:  # raised by the Laplace bound: exactly to it
        confidence = np.exp(-_log_sum_exp(table - table.max(axis=1, keepdims=True), t))
        assert abs(confidence.mean() - (n + 1) / (n + 2)) < 1e-2


def test_few_right_rows_stay_below_certainty() -> None:
    """Eight rows, all right: the likelihood would drive T to 0; Laplace caps the mean
    confidence at 9/10."""
    table = np.eye(8) * 2.0
    t = fit_temperature(table, np.arange(8))
    confidence = np.exp(-_log_sum_exp(table - table.max(axis=1, keepdims=True), t))
    assert confidence.mean() <= 0.9 + 1e-3
    assert confidence.mean() > 0.5


def test_row_softmax_is_scipys_softmax_bit_for_bit() -> None:
    from scipy.special import softmax

    from ir3de_core.decide.confidence import row_softmax

    rng = np.random.default_rng(0)
    for shape in [(1, 2), (5, 7), (100, 3)]:
        x = rng.normal(size=shape) * 10
        expected = softmax(x, axis=1)
        assert row_softmax(x.copy()).tobytes() == expected.tobytes()
