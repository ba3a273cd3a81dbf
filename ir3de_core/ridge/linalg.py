"""Small numeric helpers for the closed-form ridge solution."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

__all__ = ["SERIAL_BELOW", "lapack_threads", "solve_ridge"]

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
