"""The small linear-algebra pieces the fit's memory rests on (issue 20): each gives the numbers
of the plain numpy/scipy expression it replaces, and makes no second copy of its input's size."""

from __future__ import annotations

import tracemalloc

import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core.ridge import scatter
from ir3de_core.ridge.linalg import thin_qr
from ir3de_core.ridge.scatter import Scatter


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), r=st.integers(1, 12), extra=st.integers(0, 40))
def test_thin_qr_is_scipys_economic_qr(seed: int, r: int, extra: int) -> None:
    rows = np.random.default_rng(seed).normal(size=(r, r + extra))
    kept = rows.copy()
    q, upper = thin_qr(rows.T)
    want_q, want_r = scipy.linalg.qr(rows.T, mode="economic")
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(upper, want_r)
    np.testing.assert_array_equal(rows, kept)  # its input is not written


def test_thin_qr_holds_one_copy_of_its_input() -> None:
    rows = np.random.default_rng(0).normal(size=(200, 20_000))  # 32 MB
    tracemalloc.start()
    try:
        thin_qr(rows.T)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * rows.nbytes  # scipy.linalg.qr's economic mode peaks at two copies


def test_a_factors_eigenvectors_are_formed_in_place_across_blocks(monkeypatch) -> None:
    monkeypatch.setattr(scatter, "_BLOCK_ROWS", 7)  # several blocks, the last one short
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(5, 50))
    eigen = Scatter.of_rows(rows.copy(), np.ones(5)).eigen()
    dense = rows.T @ rows
    np.testing.assert_allclose(eigen.vectors @ np.diag(eigen.values) @ eigen.vectors.T, dense,
                               atol=1e-10 * np.abs(dense).max())  # fmt: skip
    np.testing.assert_allclose(eigen.vectors.T @ eigen.vectors, np.eye(5), atol=1e-12)
