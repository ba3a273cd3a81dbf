"""Small numeric helpers for the closed-form ridge solution."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

__all__ = ["solve_ridge"]

Float64Array = NDArray[np.float64]


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
        return np.asarray(scipy.linalg.solve(penalised, rhs, assume_a="pos"), dtype=np.float64)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        msg = (
            "the ridge system is singular or ill-conditioned; fell back to least squares. "
            "Increase alpha to regularise the fit."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        solution, *_ = scipy.linalg.lstsq(penalised, rhs)
        return np.asarray(solution, dtype=np.float64)
