"""How unlike the training data a prompt is: its leverage under the ridge system, normalised.

The ridge system of a design (weight W, mean x̄, centred scatter S, penalty α) gives each row x
the leverage ``h(x) = 1/W + (x − x̄)ᵀ(S + αI)⁻¹(x − x̄)``, its predictive variance up to σ². Its
mean over the training rows is ``1/W + df/W`` with ``df = tr(S(S + αI)⁻¹) = Σ λ/(λ + α)`` (the
effective degrees of freedom), so the *novelty*

    ν(x) = W · (x − x̄)ᵀ(S + αI)⁻¹(x − x̄) / df

is 1 on average over the rows the router was fitted on, whatever the data set, the featurizer
or α: ν = 5 is a row five times as far out as a typical training row. A threshold on ν is
therefore meaningful across data sets.

Which rows: the pooled design in domain mode (every domain's rows), and the design block with
the most weight in quality mode (the prompts most experts were scored on). A prompt scored from
one row (row features, pooled tokens) has that row's ν; a prompt scored token by token
(``vote``/``average``) has the mean ν of its tokens' embedding rows (training *token* rows
average 1), NaN when it has no tokens. Novelty is computed only for rows of at most
`MAX_NOVELTY_FEATURES` columns (one eigendecomposition of the d×d scatter per fitted state).
"""

from __future__ import annotations

import math
import numbers
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.decision import ExpertScores
from ir3de_core.decide.tokens import TokenBatch
from ir3de_core.ridge.scatter import Eigen, Scatter
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = [
    "MAX_NOVELTY_FEATURES",
    "NoveltyModel",
    "novelty_model",
    "novelty_threshold_value",
    "prompt_novelty",
    "state_novelty",
    "unsure_prompts",
]

MAX_NOVELTY_FEATURES = 4096
"""Widest rows novelty is computed for (it decomposes one d×d scatter per fitted state)."""

_CACHE: weakref.WeakKeyDictionary[SufficientStatistics, dict[float, NoveltyModel | None]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class NoveltyModel:
    """What ν is computed from (see the module docstring).

    Attributes:
        weight: W, the training rows' total weight.
        mean: array of shape (d,), x̄.
        eigen: the eigendecomposition of S.
        alpha: α > 0.
        df: ``Σ λ/(λ + α)`` > 0.
    """

    weight: float
    mean: NDArray[np.float64]
    eigen: Eigen
    alpha: float
    df: float

    @classmethod
    def of(cls, weight: float, mean: NDArray[np.float64], scatter: Scatter, alpha: float) -> Any:
        """The model of one design, None when ν is undefined (α ≤ 0 or ∞, no spread)."""
        if not (0 < alpha < math.inf) or weight <= 0:
            return None
        eigen = scatter.eigen()
        df = float((eigen.values / (eigen.values + alpha)).sum())
        if not df > 0:
            return None
        return cls(float(weight), np.asarray(mean, dtype=np.float64), eigen, float(alpha), df)

    def rows(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """ν of each row of rows (n, d): array of shape (n,)."""
        centred = np.asarray(rows, dtype=np.float64) - self.mean
        return self.weight * self.eigen.leverage(centred, self.alpha) / self.df

    def tokens(self, batch: TokenBatch, table: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        """Mean ν of each prompt's token rows ``table[ids]`` (table: (vocab, d)): shape (n,),
        NaN for a prompt without tokens."""
        unique, inverse = np.unique(batch.ids, return_inverse=True)
        per_token = self.rows(np.asarray(table[unique], dtype=np.float64))[inverse]
        n = batch.lengths.shape[0]
        sums = np.bincount(batch.prompt, weights=per_token, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(batch.lengths > 0, sums / batch.lengths, np.nan)


def _design(statistics: SufficientStatistics) -> tuple[float, NDArray[np.float64], Scatter]:
    """The rows novelty is measured against: the pooled design (shared), else the heaviest
    block."""
    if statistics.design == "shared":
        return statistics.pooled()
    used = sorted(set(statistics.block[statistics.block >= 0].tolist()))
    if not used:
        d = statistics.n_features
        return 0.0, np.zeros(d), Scatter.zeros(d)
    heaviest = max(used, key=lambda b: statistics.blocks[b].weight)
    block = statistics.blocks[heaviest]
    return float(block.weight), block.mean, block.scatter


def novelty_model(statistics: SufficientStatistics, alpha: float) -> NoveltyModel | None:
    """The (cached) `NoveltyModel` of statistics solved with α; None when undefined or wider
    than `MAX_NOVELTY_FEATURES`."""
    with _LOCK:
        known = _CACHE.get(statistics, {})
        if alpha in known:
            return known[alpha]
    model = None
    if statistics.n_features <= MAX_NOVELTY_FEATURES:
        weight, mean, scatter = _design(statistics)
        model = NoveltyModel.of(weight, mean, scatter, float(alpha))
    with _LOCK:
        _CACHE.setdefault(statistics, {})[alpha] = model
    return model


def state_novelty(state: Any, features: Any) -> NDArray[np.float64] | None:
    """ν of each featurized prompt of a `RoutedState` (features from ``state.featurize``):
    shape (n,), or None when the state has no novelty model."""
    model = novelty_model(state.statistics, float(state.settings.penalty))
    if model is None:
        return None
    if isinstance(features, TokenBatch):
        return model.tokens(features, state.featurizer.table)
    return model.rows(np.asarray(features, dtype=np.float64))


def novelty_threshold_value(value: Any) -> float | None:
    """A novelty threshold: a number ≥ 0, or None (no novelty rule)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        msg = f"novelty_threshold must be a number >= 0 or None, got {value!r}"
        raise ValueError(msg)
    return float(value)


def unsure_prompts(
    policy: Any,
    table: ExpertScores,
    probabilities: NDArray[np.float64],
    index: NDArray[np.intp],
) -> NDArray[np.bool_] | None:
    """Which prompts a policy is unsure of: the chosen expert's confidence (or quality) below
    ``policy.threshold``, or a novelty above ``policy.novelty_threshold`` (a prompt unlike the
    training data). Shape (n,); None when the policy has neither rule."""
    unsure: NDArray[np.bool_] | None = None
    if policy.threshold is not None:
        measure = probabilities if policy.threshold_on == "confidence" else table.quality
        unsure = measure[np.arange(table.n), index] < policy.threshold
    if policy.novelty_threshold is not None and table.novelty is not None:
        novel = np.nan_to_num(table.novelty, nan=0.0) > policy.novelty_threshold
        unsure = novel if unsure is None else unsure | novel
    return unsure


def prompt_novelty(table: ExpertScores, i: int) -> float | None:
    """ν of prompt i of `table` as a plain number, None when unknown (not computed, or NaN)."""
    if table.novelty is None or not np.isfinite(table.novelty[i]):
        return None
    return float(table.novelty[i])
