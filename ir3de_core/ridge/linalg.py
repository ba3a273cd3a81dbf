"""Small numeric helpers for the closed-form ridge solution."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.linalg import lapack
from threadpoolctl import ThreadpoolController

__all__ = ["SERIAL_BELOW", "lapack_threads", "solve_ridge", "thin_qr"]

Float64Array = NDArray[np.float64]

SERIAL_BELOW = 2048
"""Decompositions of matrices smaller than this run on one BLAS thread. OpenBLAS's threaded
panel factorisations (QR, eigh) gain little at this size and collapse when the cores are busy
(measured: a 1024×480 QR took 7 s on two contended threads, 0.04 s on one)."""


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def lapack_threads(size: int) -> Iterator[None]:
    """Run the block's LAPACK calls on one thread when the matrix is smaller than
    `SERIAL_BELOW` (size: its largest dimension); otherwise leave the thread count alone."""
    if size >= SERIAL_BELOW:
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield


def solve_ridge(gram: Float64Array, rhs: Float64Array, alpha: float) -> Float64Array:
    """Solve ``(gram + alpha * I) @ W = rhs`` for symmetric positive semi-definite `gram`.

    Args:
        gram: array of shape (d, d), e.g. ``XᵀX``.
        rhs: array of shape (d, k), e.g. ``XᵀY``.
        alpha: ridge penalty λ ≥ 0 added to the diagonal.

    Returns:
        W: array of shape (d, k).
    """
    penalised = gram.copy()
    penalised.flat[:: gram.shape[0] + 1] += alpha
    try:
        with lapack_threads(gram.shape[0]):
            solution = scipy.linalg.solve(penalised, rhs, assume_a="pos")
        return np.asarray(solution, dtype=np.float64)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        msg = (
            "the ridge system is singular or ill-conditioned; fell back to least squares. "
            "Increase alpha to regularise the fit."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        solution, *_ = scipy.linalg.lstsq(penalised, rhs)
        return np.asarray(solution, dtype=np.float64)


def thin_qr(a: Float64Array) -> tuple[Float64Array, Float64Array]:
    """``a = Q R`` for a (d, r) with d ≥ r: Q (d, r) orthonormal, R (r, r) upper triangular.

    `scipy.linalg.qr(a, mode="economic")`'s numbers in one d × r array: Q is formed in the
    array the factorisation was written to (LAPACK's geqrf then orgqr), and the workspace
    queries do not copy `a` (scipy's peak is two copies: 10 GB at 65,536 × 10,000).
    """
    _, _, work, info = lapack.dgeqrf(a, lwork=-1, overwrite_a=True)  # a query: a untouched
    factored, tau, _, info = lapack.dgeqrf(a, lwork=int(work[0].real), overwrite_a=False)
    if info != 0:
        msg = f"QR factorisation failed (LAPACK info {info})"
        raise np.linalg.LinAlgError(msg)
    r = np.triu(factored[: a.shape[1]])
    _, work, info = lapack.dorgqr(factored, tau, lwork=-1, overwrite_a=True)
    q, _, info = lapack.dorgqr(factored, tau, lwork=int(work[0].real), overwrite_a=True)
    if info != 0:
        msg = f"forming Q failed (LAPACK info {info})"
        raise np.linalg.LinAlgError(msg)
    return np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
