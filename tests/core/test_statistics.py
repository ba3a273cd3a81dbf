"""The algebra of sufficient statistics: closed form = scikit-learn Ridge, merges, add/remove."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from ir3de_core.exceptions import ExpertError
from ir3de_core.ridge.solver import balance_factors, solve_statistics
from ir3de_core.ridge.statistics import SufficientStatistics

NAMES = ("a", "b", "c")


@st.composite
def datasets(
    draw: st.DrawFn, design: str = "per_group"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random X (n, d), targets (n, k) and sample weights (n,)."""
    seed = draw(st.integers(0, 2**31 - 1))
    n, d = draw(st.integers(8, 40)), draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 3)
    w = rng.uniform(0.5, 2.0, size=n)
    if design == "shared":
        labels = np.r_[np.arange(3), rng.integers(0, 3, size=n - 3)]
        Y = np.full((n, 3), np.nan)
        Y[np.arange(n), labels] = 1.0
    else:
        Y = rng.uniform(0, 1, size=(n, 3))
    return X, Y, w


def _one_hot(Y: np.ndarray) -> np.ndarray:
    return np.nan_to_num(Y, nan=0.0)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.floats(0.01, 10.0))
def test_closed_form_equals_sklearn_ridge_per_group(data, alpha) -> None:
    X, Y, w = data
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="per_group", sample_weight=w)
    solution = solve_statistics(stats, alpha=alpha, balance=False)
    reference = Ridge(alpha=alpha, solver="cholesky").fit(X, Y, sample_weight=w)
    np.testing.assert_allclose(solution.coef, reference.coef_.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(solution.intercept, reference.intercept_, rtol=1e-7, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(datasets("shared"), st.floats(0.01, 10.0))
def test_closed_form_equals_sklearn_ridge_shared_one_hot(data, alpha) -> None:
    X, Y, w = data
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="shared", sample_weight=w)
    solution = solve_statistics(stats, alpha=alpha, balance=False)
    reference = Ridge(alpha=alpha).fit(X, _one_hot(Y), sample_weight=w)
    np.testing.assert_allclose(solution.coef, reference.coef_.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(solution.intercept, reference.intercept_, rtol=1e-7, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(datasets(), st.floats(0.01, 10.0))
def test_no_intercept_equals_ridge_without_intercept(data, alpha) -> None:
    X, Y, _ = data
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="per_group")
    solution = solve_statistics(stats, alpha=alpha, intercept="none", balance=False)
    reference = Ridge(alpha=alpha, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(solution.coef, reference.coef_.T, rtol=1e-7, atol=1e-9)
    assert np.all(solution.intercept == 0)


@settings(max_examples=25, deadline=None)
@given(datasets("shared"), st.floats(0.01, 10.0))
def test_penalized_bias_reproduces_the_papers_augmented_solve(data, alpha) -> None:
    """The paper appends a bias column to X and penalises it like every other weight."""
    X, Y, _ = data
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="shared")
    solution = solve_statistics(stats, alpha=alpha, intercept="penalized", balance=False)
    Xb = np.hstack([X, np.ones((len(X), 1))])
    W = np.linalg.solve(Xb.T @ Xb + alpha * np.eye(Xb.shape[1]), Xb.T @ _one_hot(Y))
    np.testing.assert_allclose(solution.coef, W[:-1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(solution.intercept, W[-1], rtol=1e-7, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(datasets("shared"))
def test_normalized_columns_have_unit_norm_including_the_penalised_bias(data) -> None:
    X, Y, _ = data
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="shared")
    centred = solve_statistics(stats, alpha=1.0, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(centred.coef, axis=0), 1.0)
    paper = solve_statistics(stats, alpha=1.0, intercept="penalized", normalize=True)
    full = np.vstack([paper.coef, paper.intercept])
    np.testing.assert_allclose(np.linalg.norm(full, axis=0), 1.0)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.integers(1, 7))
def test_merged_statistics_equal_one_big_fit(data, cut) -> None:
    X, Y, w = data
    whole = SufficientStatistics.from_rows(X, Y, NAMES, design="per_group", sample_weight=w)
    left = SufficientStatistics.from_rows(
        X[:cut], Y[:cut], NAMES, design="per_group", sample_weight=w[:cut]
    )
    right = SufficientStatistics.from_rows(
        X[cut:], Y[cut:], NAMES, design="per_group", sample_weight=w[cut:]
    )
    assert (left + right).equals(whole, atol=1e-9)
    assert (right + left).equals(whole, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(datasets("shared"))
def test_add_then_remove_expert_equals_fresh_fit(data) -> None:
    X, Y, _ = data
    base = SufficientStatistics.from_rows(X, Y, NAMES, design="shared")
    new_rows = X[:5] + 1.0
    extra = SufficientStatistics.from_rows(new_rows, np.ones((5, 1)), ("d",), design="shared")
    grown = base.add_expert(extra)
    fresh = SufficientStatistics.from_rows(
        np.vstack([X, new_rows]),
        np.vstack(
            [
                np.hstack([Y, np.full((len(X), 1), np.nan)]),
                np.c_[np.full((5, 3), np.nan), np.ones(5)],
            ]
        ),
        (*NAMES, "d"),
        design="shared",
    )
    assert grown.equals(fresh, atol=1e-9)
    assert grown.remove_expert("d").equals(base, atol=1e-9)
    a = solve_statistics(grown, alpha=1.0)
    b = solve_statistics(fresh, alpha=1.0)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-8)


def test_merge_matches_groups_by_name_and_appends_new_ones() -> None:
    X = np.eye(2)
    one = SufficientStatistics.from_rows(
        X, [[1.0, np.nan], [np.nan, 1.0]], ("x", "y"), design="shared"
    )
    two = SufficientStatistics.from_rows(
        X, [[np.nan, 1.0], [1.0, np.nan]], ("y", "z"), design="shared"
    )
    merged = one + two
    assert merged.names == ("x", "y", "z")
    np.testing.assert_array_equal(merged.n_rows, [1, 2, 1])
    np.testing.assert_array_equal(merged.sum_x[1], [0.0, 2.0])  # row 1 of each set is in "y"


def test_merging_different_designs_or_widths_is_refused() -> None:
    a = SufficientStatistics.empty(("x",), 2, "shared")
    with pytest.raises(ValueError, match="same featurizer"):
        a + SufficientStatistics.empty(("x",), 3, "shared")
    with pytest.raises(ValueError, match="same featurizer"):
        a + SufficientStatistics.empty(("x",), 2, "per_group")


def test_adding_an_existing_expert_or_removing_an_unknown_one_is_an_error() -> None:
    a = SufficientStatistics.empty(("x",), 2, "shared")
    with pytest.raises(ExpertError, match="already exist"):
        a.add_expert(SufficientStatistics.empty(("x",), 2, "shared"))
    with pytest.raises(ExpertError, match="unknown expert 'nope'"):
        a.remove_expert("nope")


def test_balance_gives_every_group_the_same_total_weight() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(110, 3))
    Y = np.full((110, 2), np.nan)
    Y[:100, 0], Y[100:, 1] = 1.0, 1.0  # group "a" has 10x the rows ("long prompts")
    stats = SufficientStatistics.from_rows(X, Y, ("a", "b"), design="shared")
    factors = balance_factors(stats)
    np.testing.assert_allclose(stats.weight * factors, [55.0, 55.0])
    balanced = solve_statistics(stats, alpha=1.0, balance=True)
    manual = solve_statistics(stats.scaled(factors), alpha=1.0, balance=False)
    np.testing.assert_allclose(balanced.coef, manual.coef)
    unbalanced = solve_statistics(stats, alpha=1.0, balance=False)
    # Without balancing the intercept follows the 10:1 class ratio; with it the classes are even.
    assert unbalanced.intercept[0] > 0.85 and unbalanced.intercept[1] < 0.15
    assert abs(balanced.intercept[0] - balanced.intercept[1]) < 0.2


def test_shape_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="cross has shape"):
        SufficientStatistics(
            names=("a",), design="shared", n_features=2, blocks=(),
            block=np.full(1, -1, dtype=np.int64), mean_y=np.zeros(1), cross=np.zeros((1, 3)),
            n_rows=np.zeros(1, dtype=np.int64), n_prompts=np.zeros(1, dtype=np.int64),
        )  # fmt: skip


def test_shared_design_needs_exactly_one_group_per_row() -> None:
    with pytest.raises(ValueError, match="exactly one group"):
        SufficientStatistics.from_rows(
            np.eye(2), [[1.0, 1.0], [np.nan, 1.0]], ("a", "b"), design="shared"
        )


def test_token_counts_equal_materialised_token_rows() -> None:
    rng = np.random.default_rng(1)
    table = rng.normal(size=(50, 4)).astype(np.float32)
    ids = rng.integers(0, 50, size=200)
    groups = rng.integers(0, 2, size=200)
    y = rng.uniform(size=200)
    targets = np.full((200, 2), np.nan)
    targets[np.arange(200), groups] = y[np.arange(200)]
    rows = SufficientStatistics.from_rows(table[ids], targets, ("a", "b"), design="per_group")
    counts = np.stack([np.bincount(ids[groups == g], minlength=50) for g in (0, 1)]).astype(float)
    ycounts = np.stack(
        [np.bincount(ids[groups == g], weights=y[groups == g], minlength=50) for g in (0, 1)]
    )
    fast = SufficientStatistics.from_token_counts(
        table, counts, ycounts, ("a", "b"), design="per_group",
        n_rows=rows.n_rows, n_prompts=rows.n_prompts,
    )  # fmt: skip
    assert fast.equals(rows, atol=1e-9)


# ---------------------------------------------------------------------- numerics at any offset
@settings(max_examples=30, deadline=None)
@given(datasets(), st.floats(0.01, 10.0), st.sampled_from([1e3, 1e6, 1e7]), st.integers(1, 7))
def test_large_feature_offsets_lose_no_precision(data, alpha, offset, cut) -> None:
    """A constant offset of 1e7 on every feature: merged parts still solve exactly as
    scikit-learn (raw sums centred by subtraction were off by 4.4 at 1e7)."""
    X, Y, w = data
    shifted = X + offset
    left = SufficientStatistics.from_rows(
        shifted[:cut], Y[:cut], NAMES, design="per_group", sample_weight=w[:cut]
    )
    right = SufficientStatistics.from_rows(
        shifted[cut:], Y[cut:], NAMES, design="per_group", sample_weight=w[cut:]
    )
    solution = solve_statistics(left + right, alpha=alpha, balance=False)
    reference = Ridge(alpha=alpha, solver="cholesky").fit(shifted, Y, sample_weight=w)
    scale = max(1.0, float(np.abs(reference.coef_).max()))
    np.testing.assert_allclose(solution.coef, reference.coef_.T, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(
        solution.intercept, reference.intercept_, rtol=1e-6, atol=1e-6 * offset * scale
    )
    np.testing.assert_allclose(
        shifted @ solution.coef + solution.intercept, reference.predict(shifted), atol=1e-6
    )


@settings(max_examples=30, deadline=None)
@given(datasets("shared"), st.sampled_from([0.0, 1e6, 1e7]))
def test_shared_design_at_large_offsets_equals_sklearn(data, offset) -> None:
    X, Y, w = data
    shifted = X + offset
    stats = SufficientStatistics.from_rows(shifted, Y, NAMES, design="shared", sample_weight=w)
    solution = solve_statistics(stats, alpha=1.0, balance=False)
    reference = Ridge(alpha=1.0).fit(shifted, _one_hot(Y), sample_weight=w)
    np.testing.assert_allclose(
        shifted @ solution.coef + solution.intercept, reference.predict(shifted), atol=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(datasets(), st.integers(1, 7), st.sampled_from([0.0, 1e6]))
def test_subtracting_a_part_undoes_the_merge(data, cut, offset) -> None:
    """total − fold = the other folds (cross-validation and replicas' deltas rely on it)."""
    X, Y, w = data
    X = X + offset
    whole = SufficientStatistics.from_rows(X, Y, NAMES, design="per_group", sample_weight=w)
    part = SufficientStatistics.from_rows(
        X[:cut], Y[:cut], NAMES, design="per_group", sample_weight=w[:cut]
    )
    rest = SufficientStatistics.from_rows(
        X[cut:], Y[cut:], NAMES, design="per_group", sample_weight=w[cut:]
    )
    got = whole - part
    tol = 1e-6 * max(1.0, offset)
    np.testing.assert_allclose(got.weight, rest.weight, atol=1e-9)
    np.testing.assert_allclose(got.mean_x, rest.mean_x, atol=tol)
    mine, theirs = _scatters(got), _scatters(rest)
    np.testing.assert_allclose(mine, theirs, atol=1e-6 * max(1.0, float(np.abs(theirs).max())))
    a = solve_statistics(got, alpha=1.0, balance=False)
    b = solve_statistics(rest, alpha=1.0, balance=False)
    np.testing.assert_allclose(X @ a.coef + a.intercept, X @ b.coef + b.intercept, atol=1e-6)


def test_subtracting_what_is_not_a_part_is_refused() -> None:
    a = SufficientStatistics.from_rows(np.eye(2), [[1.0], [1.0]], ("x",), design="per_group")
    big = SufficientStatistics.from_rows(
        np.ones((5, 2)), np.ones((5, 1)), ("x",), design="per_group"
    )
    with pytest.raises(ValueError, match="not a part"):
        a - big
    with pytest.raises(ExpertError, match="do not have"):
        a - SufficientStatistics.empty(("y",), 2, "per_group")


def test_uncentred_sums_of_old_files_convert_exactly() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(30, 4)) + 5.0, rng.uniform(size=(30, 3))
    stats = SufficientStatistics.from_rows(X, Y, NAMES, design="per_group")
    raw = SufficientStatistics.from_raw(
        NAMES, "per_group", xtx=stats.xtx, xty=stats.xty, sum_x=stats.sum_x, sum_y=stats.sum_y,
        weight=stats.weight, n_rows=stats.n_rows, n_prompts=stats.n_prompts,
    )  # fmt: skip
    assert raw.equals(stats, atol=1e-9)


def _scatters(stats: SufficientStatistics) -> np.ndarray:
    """Every group's scatter as a dense array of shape (k, d, d)."""
    return np.stack([stats.scatter_of(j).to_dense() for j in range(len(stats.names))])
