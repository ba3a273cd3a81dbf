"""A fit's memory: the stated formula, the refusal before allocating, and the bound held (issue 20)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from ir3de_core import FitMemoryError, HashingFeaturizer, IR3DERouter, NotFittedError
from ir3de_core.fit.budget import FitSize, available_memory, check_fit_memory
from ir3de_core.ridge.scatter import Scatter

WORDS = [f"w{i}" for i in range(400)]


def _data(n: int, k: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    prompts = [" ".join(rng.choice(WORDS, 12)) for _ in range(n)]
    return prompts, rng.random((n, k)), [f"e{j}" for j in range(k)]


def test_formula_counts_rows_statistics_and_tables() -> None:
    n, d, k, folds = 20, 4096, 7, 5
    words = n * d + n * k + 12 * n * d + 11 * k * d + 10 * n * k
    assert FitSize(n, d, k, folds).nbytes == 8 * words + (8 << 20)
    dual = 8 * (2 * n * d + 3 * n * d // folds + 3 * n * n + 2 * k * d + n * k + 10 * n * k) + (
        8 << 20
    )
    assert FitSize(n, d, k, folds, dual=True).nbytes == dual  # folds kept as rows
    untuned = FitSize(n, d, k, 0, rows_kept=False)
    assert untuned.nbytes == 8 * (n * k + 2 * n * d + 8 * k * d) + (8 << 20)
    # the candidates are scored on at most 8,192 held-out prompts: tables stop growing there
    big = FitSize(100_000, 4096, 10_000, 5, dual=False).nbytes
    assert big - FitSize(100_000, 4096, 9_999, 5).nbytes == 8 * (100_000 + 11 * 4096 + 10 * 8192)
    # past n = d a scatter is dense: d² per copy, however many prompts (and past 8,192 the
    # held-out tables are full): a prompt more adds only its row and its targets
    assert FitSize(10**6, 64, 3, 5).nbytes - FitSize(10**6 - 1, 64, 3, 5).nbytes == 8 * (64 + 3)


def test_refusal_names_the_sizes_and_the_fixes() -> None:
    with pytest.raises(FitMemoryError, match="fewer features") as caught:
        check_fit_memory(FitSize(10_000, 65_536, 7, 5), available=10**9)
    assert "10000 prompts × 65536 features × 7 groups with cv=5" in str(caught.value)
    assert isinstance(caught.value, MemoryError)
    check_fit_memory(FitSize(20, 4096, 7, 5), available=10**9)  # fits: no error


def test_a_fit_over_the_limit_is_refused_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts, Y, experts = _data(30, 3)
    monkeypatch.setenv("IR3DE_MEMORY_LIMIT", "1e6")
    router = IR3DERouter(HashingFeaturizer(n_features=1024), target="quality")
    with pytest.raises(FitMemoryError, match="IR3DE_MEMORY_LIMIT"):
        router.fit(prompts, Y, experts=experts)
    with pytest.raises(NotFittedError):
        router.route(prompts[:1])
    monkeypatch.setenv("IR3DE_MEMORY_LIMIT", "1e9")
    router.fit(prompts, Y, experts=experts)  # the same fit, with room
    assert router.route(prompts[:1])[0].expert in experts


def test_memory_limit_override_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IR3DE_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="IR3DE_MEMORY_LIMIT must be a number of bytes"):
        available_memory()
    monkeypatch.setenv("IR3DE_MEMORY_LIMIT", "2.5e9")
    assert available_memory() == 2_500_000_000
    monkeypatch.delenv("IR3DE_MEMORY_LIMIT")
    found = available_memory()
    assert found is None or found > 0


@pytest.mark.parametrize(
    ("n", "d", "k"), [(20, 4096, 7), (300, 384, 7), (100, 64, 100), (20, 512, 2000), (400, 2048, 5)]
)
def test_traced_peak_stays_under_the_estimate(n: int, d: int, k: int) -> None:
    prompts, Y, experts = _data(n, k)
    router = IR3DERouter(HashingFeaturizer(n_features=d), target="quality")
    estimate = router.fit_spec(prompts).size(n, k, complete=True).nbytes
    tracemalloc.start()
    try:
        router.fit(prompts, Y, experts=experts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= estimate
    if (n, d, k) == (20, 4096, 7):
        assert peak < 500e6  # the case: 13.7 GB before the rewrite


def _coefficients(router: IR3DERouter) -> tuple[np.ndarray, np.ndarray]:
    solution = router.state_.solution
    return solution.coef, solution.intercept


@pytest.mark.parametrize("n", [40, 700])  # fewer rows than features (a factor), more (dense)
@pytest.mark.parametrize("alpha", [0.3, 30.0])
def test_shared_gram_equals_per_expert_fits(n: int, alpha: float) -> None:
    prompts, Y, experts = _data(n, 5, seed=n)
    featurizer = HashingFeaturizer(n_features=256)
    shared = IR3DERouter(featurizer, target="quality", alpha=alpha).fit(prompts, Y, experts=experts)
    coef, intercept = _coefficients(shared)
    X = shared.transform(prompts)
    for j, name in enumerate(experts):
        alone = IR3DERouter(featurizer, target="quality", alpha=alpha)
        alone.fit(prompts, Y[:, [j]], experts=[name])
        coef_j, intercept_j = _coefficients(alone)
        np.testing.assert_allclose(coef[:, j], coef_j[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(intercept[j], intercept_j[0], rtol=0, atol=1e-10)
        reference = Ridge(alpha=alpha, solver="cholesky").fit(X, Y[:, j])
        np.testing.assert_allclose(coef[:, j], reference.coef_, rtol=0, atol=1e-8)


@pytest.mark.parametrize("rows", [5, 80])
def test_thin_and_complete_eigen_solves_equal_the_direct_solve(rows: int) -> None:
    rng = np.random.default_rng(rows)
    d = 40
    x = rng.normal(size=(rows, d))
    scatter = Scatter.of_rows(x - x.mean(axis=0), np.ones(rows))
    eigen = scatter.eigen()
    assert eigen.complete == (rows > d)
    rhs = rng.normal(size=(d, 6))
    for alpha in (1e-3, 1.0, 1e3):
        direct = np.linalg.solve(scatter.to_dense() + alpha * np.eye(d), rhs)
        # relative: at α = 1e-3 the solution is ~1e3 and the direct solve itself is ill-conditioned
        np.testing.assert_allclose(eigen.solve(rhs, alpha), direct, rtol=1e-8, atol=1e-10)
        probe = rng.normal(size=(3, d))
        inverse_rows = np.linalg.solve(scatter.to_dense() + alpha * np.eye(d), probe.T)
        expected = np.einsum("ij,ji->i", probe, inverse_rows)
        np.testing.assert_allclose(eigen.leverage(probe, alpha), expected, rtol=1e-9, atol=1e-10)
