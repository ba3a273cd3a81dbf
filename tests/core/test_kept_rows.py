"""Folds kept as their rows (`KeptRows`, fewer prompts than features): the dual cross-validation
path equals the dense one (statistics with k × d cross-products) to 1e-10 (issue 20)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core import HashingFeaturizer, IR3DERouter
from ir3de_core.fit import fold_paths
from ir3de_core.fit.fold_paths import fold_projections
from ir3de_core.ridge.combine import total_of
from ir3de_core.ridge.dual_folds import _positions_in
from ir3de_core.ridge.kept_rows import KeptRows
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings


def _rows(seed: int, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d)
    return X, rng.normal(size=(n, k)), [f"e{j}" for j in range(k)]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(6, 40),
    extra=st.integers(0, 30),
    k=st.integers(1, 5),
    normalize=st.booleans(),
)
def test_dual_fold_projections_equal_the_dense_ones(
    seed: int, n: int, extra: int, k: int, normalize: bool
) -> None:
    d = n + extra  # every fold, and every fold's complement, has fewer rows than features
    X, Y, names = _rows(seed, n, d, k)
    fold = np.arange(n) % 3
    kept = [KeptRows.of(X[fold == f], Y[fold == f], names, design="per_group") for f in range(3)]
    assert all(isinstance(part, KeptRows) for part in kept)
    dense = [SufficientStatistics.from_rows(X[fold == f], Y[fold == f], names,
                                            design="per_group") for f in range(3)]  # fmt: skip
    totals = total_of(dense)
    assert totals is not None
    alphas = [1e-3, 0.5, 30.0, math.inf]
    router_settings = replace(
        RouterSettings.from_params({"target": "quality"}), normalize=normalize
    )
    held = [X[fold == f] for f in range(3)]
    want = fold_projections(totals, dense, alphas, router_settings, held)
    got = fold_projections(totals, kept, alphas, router_settings, held)
    for f, ((train_got, path_got), (train_want, path_want)) in enumerate(
        zip(got, want, strict=True)
    ):
        assert train_got.equals(train_want, atol=1e-10 * (1 + np.abs(X).max()))
        assert path_got is not None and path_want is not None
        for i, alpha in enumerate(alphas):
            expected = path_want.scores(i)
            scale = 1 + np.abs(expected).max()
            exact = _least_squares(X[fold != f], Y[fold != f], held[f], alpha, normalize)
            np.testing.assert_allclose(path_got.scores(i), exact, rtol=0, atol=1e-10 * scale)
            if alpha < 0.1:  # ill-conditioned: the dense path's own rounding is ~1e-8 here
                np.testing.assert_allclose(path_got.scores(i), expected, rtol=0, atol=1e-7 * scale)
            else:
                np.testing.assert_allclose(path_got.scores(i), expected, rtol=0, atol=1e-10 * scale)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 30), offset=st.sampled_from([0.0, 1e3]))
def test_dual_folds_score_rows_other_than_their_own_exactly(
    seed: int, n: int, offset: float
) -> None:
    """Held-out rows that are not the fold's rows are multiplied against the shifted folds;
    a large common offset of the features does not cost the centring its accuracy."""
    d = n + 5
    X, Y, names = _rows(seed, n, d, 2)
    X += offset
    fold = np.arange(n) % 3
    kept = [KeptRows.of(X[fold == f], Y[fold == f], names, design="per_group") for f in range(3)]
    dense = [SufficientStatistics.from_rows(X[fold == f], Y[fold == f], names,
                                            design="per_group") for f in range(3)]  # fmt: skip
    totals = total_of(dense)
    assert totals is not None
    router_settings = RouterSettings.from_params({"target": "quality"})
    other = np.random.default_rng(seed + 1).normal(size=(4, d)) + offset
    alphas = [0.5, 30.0]
    mixed = np.vstack([X[fold == 2][::-1], other[:1]])  # its own rows, reordered, and a new one
    got = fold_projections(totals, kept, alphas, router_settings, [other, None, mixed])
    assert got[1][1] is None
    for f, held in ((0, other), (2, mixed)):
        path = got[f][1]
        assert path is not None
        for i, alpha in enumerate(alphas):
            exact = _least_squares(X[fold != f], Y[fold != f], held, alpha, False)
            scale = 1 + np.abs(exact).max()
            np.testing.assert_allclose(path.scores(i), exact, rtol=0, atol=1e-9 * scale)


def test_held_rows_are_paired_with_equal_rows_of_their_fold() -> None:
    """The held-out sample is a fold's rows in another order (by hash): each is found in the
    fold (duplicates included), so its products come from the Gram; a new row is not."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 300))
    x[7] = x[3]
    z = np.vstack([x[rng.permutation(50)], rng.normal(size=(2, 300)), x[3] + 1e-12])
    found = _positions_in(z, x)
    assert (found[-3:] == -1).all()
    np.testing.assert_array_equal(x[found[:50]], z[:50])
    assert _positions_in(z[:, :10], x).tolist() == [-1] * 53


def _least_squares(
    x: np.ndarray, y: np.ndarray, held: np.ndarray, alpha: float, normalize: bool
) -> np.ndarray:
    """Centred ridge scores of `held` by an orthogonal least-squares solve of the stacked
    system ``[Xc; √α I] w = [Yc; 0]`` (as well-conditioned as Xc itself, not its square)."""
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    if alpha == math.inf:
        return np.tile(mean_y, (held.shape[0], 1))
    d = x.shape[1]
    a = np.vstack([x - mean_x, math.sqrt(alpha) * np.eye(d)])
    b = np.vstack([y - mean_y, np.zeros((d, y.shape[1]))])
    w = np.linalg.lstsq(a, b, rcond=None)[0]
    scores = (held - mean_x) @ w + mean_y
    if normalize:
        norms = np.linalg.norm(w, axis=0)
        scores /= np.where(norms > 0, norms, 1.0)
    return scores


def test_kept_rows_add_up_to_the_statistics_of_their_rows() -> None:
    X, Y, names = _rows(0, 30, 64, 4)
    parts = [KeptRows.of(X[i : i + 10], Y[i : i + 10], names, design="per_group")
             for i in range(0, 30, 10)]  # fmt: skip
    whole = SufficientStatistics.from_rows(X, Y, names, design="per_group")
    joined = parts[0] + parts[1]
    assert isinstance(joined, KeptRows) and joined.n_rows == 20
    summed = total_of(parts)
    assert summed is not None and summed.equals(whole, atol=1e-10)
    rest = parts[1] + parts[2]
    assert isinstance(rest, KeptRows)
    for mixed in (parts[0].statistics() + rest, parts[0] + rest.statistics()):  # both ways
        assert isinstance(mixed, SufficientStatistics) and mixed.equals(whole, atol=1e-10)
    assert parts[0].summary().equals(parts[0].statistics().without_scatter(), atol=1e-12)
    X2, Y2, _ = _rows(2, 40, 64, 4)
    many = KeptRows.of(X2, Y2, names, design="per_group") + KeptRows.of(
        X, Y, names, design="per_group"
    )
    assert isinstance(many, SufficientStatistics)  # 70 rows > 64 features: statistics
    assert many.n_rows.tolist() == [70] * 4


def test_rows_are_not_kept_when_they_cannot_stand_for_the_statistics() -> None:
    X, Y, names = _rows(1, 12, 8, 3)
    assert isinstance(KeptRows.of(X, Y, names, design="per_group"), SufficientStatistics)  # n > d
    missing = Y[:6].copy()
    missing[0, 1] = np.nan
    assert isinstance(KeptRows.of(X[:6], missing, names, design="per_group"), SufficientStatistics)
    one_hot = np.where(np.eye(3)[np.arange(6) % 3] > 0, 1.0, np.nan)
    assert isinstance(KeptRows.of(X[:6], one_hot, names, design="shared"), SufficientStatistics)


def _signal(n: int, k: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    """Prompts whose words decide which experts score well (a finite α wins)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    prompts, Y = [], np.empty((n, k))
    for i in range(n):
        chosen = rng.choice(40, 6, replace=False)
        prompts.append(" ".join(words[c] for c in chosen))
        Y[i] = [(chosen % k == j).sum() for j in range(k)] + 0.1 * rng.normal(size=k)
    return prompts, Y, [f"e{j}" for j in range(k)]


@pytest.mark.parametrize("k", [3, 40])
def test_a_fit_with_kept_folds_equals_the_dense_fit(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts, Y, experts = _signal(60, k)

    def fitted() -> IR3DERouter:
        featurizer = HashingFeaturizer(n_features=512)
        return IR3DERouter(featurizer, target="quality").fit(prompts, Y, experts=experts)

    factored = fitted()
    monkeypatch.setattr("ir3de_core.ridge.kept_rows.keeps", lambda *args: False)
    dense = fitted()
    assert math.isfinite(factored.cv_results_["alpha"])  # the words carry signal
    assert factored.cv_results_["alpha"] == pytest.approx(dense.cv_results_["alpha"], rel=1e-12)
    for got, want in zip(factored.cv_results_["candidates"], dense.cv_results_["candidates"],
                         strict=True):  # fmt: skip
        assert got["alpha"] == pytest.approx(want["alpha"], rel=1e-12)
        assert got["score"] == pytest.approx(want["score"], rel=1e-10, abs=1e-12)
    for key in ("threshold", "temperature"):
        got, want = factored.cv_results_[key], dense.cv_results_[key]
        assert (got is None) == (want is None)
        assert want is None or got == pytest.approx(want, rel=1e-8)
    np.testing.assert_allclose(factored.coef_, dense.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(factored.intercept_, dense.intercept_, rtol=0, atol=1e-10)


def test_folds_whose_complements_outgrow_the_features_are_scored_from_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Folds of 10 rows at 12 features are kept, but each complement (20 rows) is not: those
    folds are scored by the dense path, with the same numbers."""
    X, Y, names = _rows(3, 30, 12, 3)
    fold = np.arange(30) % 3
    kept = [KeptRows.of(X[fold == f], Y[fold == f], names, design="per_group") for f in range(3)]
    assert all(isinstance(part, KeptRows) for part in kept)
    dense = [SufficientStatistics.from_rows(X[fold == f], Y[fold == f], names,
                                            design="per_group") for f in range(3)]  # fmt: skip
    totals = total_of(dense)
    assert totals is not None
    router_settings = RouterSettings.from_params({"target": "quality"})
    held = [X[fold == f] for f in range(3)]

    def dual(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dual form was used for a complement of more rows than d")

    monkeypatch.setattr(fold_paths, "dual_fold_projections", dual)
    got = fold_projections(totals, kept, [0.5, 30.0], router_settings, held)
    want = fold_projections(totals, dense, [0.5, 30.0], router_settings, held)
    for (_, path_got), (_, path_want) in zip(got, want, strict=True):
        assert path_got is not None and path_want is not None
        for i in range(2):
            np.testing.assert_allclose(path_got.scores(i), path_want.scores(i), rtol=0, atol=1e-10)
