"""Validating and shaping training targets: domain labels, per-expert scores, the expert map."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record
from ir3de_core.exceptions import ExpertError
from ir3de_core.settings import RouterSettings

__all__ = [
    "MissingScores",
    "domain_targets",
    "learn_expert_map",
    "record_targets",
    "score_matrix",
    "validate_expert_map",
]

MissingScores = Literal["raise", "ignore"]


def domain_targets(
    labels: Sequence[Any], n: int, groups: Sequence[str] | None = None
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """One-hot targets with NaN for "not this group".

    Args:
        labels: n domain labels.
        n: expected number of prompts.
        groups: known group order (new labels are appended); None starts fresh.

    Returns:
        (group names, array of shape (n, k) holding 1.0 at the row's domain and NaN elsewhere).
    """
    if isinstance(labels, str) or len(labels) != n:
        msg = f"expected {n} domain labels (one per prompt), got {_describe(labels)}"
        raise ValueError(msg)
    names = list(groups or ())
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            msg = f"domain label {i} is {label!r}; domain labels must be non-empty strings"
            raise ValueError(msg)
        if label not in names:
            names.append(label)
    targets = np.full((n, len(names)), np.nan)
    targets[np.arange(n), [names.index(label) for label in labels]] = 1.0
    return tuple(names), targets


def score_matrix(
    scores: Any,
    n: int,
    experts: Sequence[str] | None = None,
    *,
    missing: MissingScores = "raise",
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Per-expert scores as an (n, k) float array with NaN for "not scored".

    Args:
        scores: an array of shape (n, k) with `experts` naming its columns (NaN is a missing
            score), or a sequence of n mappings ``{expert: score}`` (an absent key means "not
            scored on this prompt"; a NaN or None value is a missing score), or a DataFrame.
        n: expected number of prompts.
        experts: column names for an array; for mappings, the column order (unknown experts are
            appended).
        missing: ``"raise"`` on NaN/None scores, or ``"ignore"`` to leave them out with a warning.
    """
    if hasattr(scores, "columns") and hasattr(scores, "to_numpy"):  # pandas DataFrame
        experts = [str(c) for c in scores.columns]
        scores = scores.to_numpy(dtype=np.float64)
    if len(scores) and isinstance(scores[0], Mapping):
        column = dict.fromkeys(experts or ())  # insertion-ordered set: O(1) lookups for many
        for row in scores:
            column.update(dict.fromkeys(row))
        names = list(column)
        where = {e: j for j, e in enumerate(names)}
        matrix = np.full((len(scores), len(names)), np.nan)
        explicit = np.zeros(matrix.shape, dtype=bool)  # an absent key is "not scored", not missing
        for i, row in enumerate(scores):
            for expert, value in row.items():
                matrix[i, where[expert]] = _as_float(value, i, expert)
                explicit[i, where[expert]] = True
        invalid = explicit & np.isnan(matrix)
    else:
        matrix = np.array(scores, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        names = (
            list(experts)
            if experts is not None
            else [f"expert_{j}" for j in range(matrix.shape[1])]
        )
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            msg = f"scores have shape {matrix.shape} but {len(names)} expert names were given"
            raise ValueError(msg)
        invalid = np.isnan(matrix)
    if matrix.shape[0] != n:
        msg = f"expected scores for {n} prompts, got {matrix.shape[0]}"
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f"expert names must be unique, got {names}"
        raise ExpertError(msg)
    if np.isinf(matrix).any():
        msg = "scores contain inf; scores must be finite numbers"
        raise ValueError(msg)
    _check_missing(invalid, tuple(names), missing)
    return tuple(names), matrix


def _as_float(value: Any, row: int, expert: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        msg = f"score of {expert!r} on prompt {row} is {value!r}; scores must be numbers"
        raise TypeError(msg)
    return float(value)


def _check_missing(
    invalid: NDArray[np.bool_], names: tuple[str, ...], missing: MissingScores
) -> None:
    """Raise on (or warn about) scores given as NaN/None; `invalid` has shape (n, k)."""
    nan_rows, nan_cols = np.nonzero(invalid)
    if nan_rows.size == 0:
        return
    per_expert = {names[j]: int((nan_cols == j).sum()) for j in np.unique(nan_cols)}
    if missing == "raise":
        msg = (
            f"{nan_rows.size} scores are NaN or None (first at prompt {nan_rows[0]}, "
            f"per expert: {per_expert}); drop those prompts, or pass missing_scores='ignore' to "
            "leave each missing score out of its expert's fit"
        )
        raise ValueError(msg)
    message = f"left {nan_rows.size} NaN/None scores out of the fit (per expert: {per_expert})"
    warnings.warn(message, UserWarning, stacklevel=3)


def learn_expert_map(
    domains: NDArray[np.float64],
    groups: Sequence[str],
    scores: NDArray[np.float64],
    experts: Sequence[str],
) -> dict[str, str]:
    """The best expert of each domain: highest mean score over the domain's prompts.

    Args:
        domains: array of shape (n, k_domains), one-hot with NaN (as from `domain_targets`).
        groups: the k_domains domain names.
        scores: array of shape (n, k_experts), NaN where unscored.
        experts: the k_experts names.
    """
    mapping = {}
    for g, domain in enumerate(groups):
        rows = ~np.isnan(domains[:, g])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(scores[rows], axis=0)
        if np.all(np.isnan(means)):
            msg = f"no expert has a score on domain {domain!r}; give an expert_map for it"
            raise ValueError(msg)
        mapping[domain] = experts[int(np.nanargmax(means))]
    return mapping


def validate_expert_map(expert_map: Mapping[str, str], groups: Sequence[str]) -> dict[str, str]:
    """Check that every domain maps to a non-empty expert name."""
    unmapped = [g for g in groups if g not in expert_map]
    if unmapped:
        msg = f"expert_map has no expert for domain(s) {unmapped}; add them to expert_map"
        raise ExpertError(msg)
    return {g: str(expert_map[g]) for g in groups}


def _describe(value: object) -> str:
    if isinstance(value, str):
        return "a single string"
    return f"{len(value)} items" if hasattr(value, "__len__") else type(value).__name__


def record_targets(settings: RouterSettings, records: Sequence[Record]) -> list[Any]:
    """The `y` of `records` for a fit: domain labels, or per-expert scores."""
    if settings.target == "domain":
        unlabelled = [i for i, r in enumerate(records) if r.domain is None]
        if unlabelled:
            msg = (
                f"{len(unlabelled)} records have no 'domain' (first: #{unlabelled[0]}); domain mode "
                "needs one per record — add it, or fit with target='quality'"
            )
            raise ValueError(msg)
        return [r.domain for r in records]
    return [dict(r.scores) for r in records]
