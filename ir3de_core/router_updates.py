"""What a fitted router learns after its fit: more data, feedback, experts added or removed.

Each update re-solves from the summed statistics (or folds feedback by rank-one steps) under
the writer lock and publishes the new state in one assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.decide.state import RoutedState
from ir3de_core.featurizers import validate_texts
from ir3de_core.fit.online_alpha import FeedbackSample, choose_alpha
from ir3de_core.fit.parts import FitPart
from ir3de_core.fit.spec import FitSpec
from ir3de_core.fit.tuning import alpha_grid
from ir3de_core.fit.updates import (
    fold_feedback,
    updates_online,
    with_alpha,
    with_expert,
    with_statistics,
    without_expert,
)
from ir3de_core.published import PublishedState
from ir3de_core.settings import RouterSettings

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RouterUpdates"]


class RouterUpdates(PublishedState):
    """`partial_fit`, `partial_fit_features`, `add_part`, `add_expert`, `remove_expert`."""

    @property
    def settings(self) -> RouterSettings:
        raise NotImplementedError

    def fit(self, X: Sequence[str], y: Any) -> Any:
        raise NotImplementedError

    def partial_fit(
        self, X: Sequence[str], y: Any, *, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Add more data (new domains or experts included) and re-solve; fits if not fitted.

        Feedback events fit here too: ``partial_fit([prompt], [{expert: observed_score}])``.
        In quality mode with row features (``sentence``, ``hashing``, ``openai``, pooled
        ``tokens``), the default centred intercept and no column normalisation, known experts
        are updated by rank-one (Sherman–Morrison) steps: O(d²) per event instead of k solves
        of d×d, with the same weights.

        Args:
            X: n prompts.
            y: as in `fit`.
            sample_weight: array of shape (n,), each prompt's weight (default 1; rank-one
                updates need positive weights).
        """
        if not hasattr(self, "state_"):
            if sample_weight is not None:
                msg = "sample_weight is for updates of a fitted router; fit it first"
                raise ValueError(msg)
            return self.fit(X, y)
        prompts = validate_texts(X)
        with self._writing():
            state, spec = self.state_, self.update_spec()
            names, targets = spec.targets(prompts, y, known=state.statistics.names)
            weights = _weights(sample_weight, len(prompts))
            if updates_online(spec, state, names):
                self._fold(state, spec, state.row_features(prompts), targets, weights)
            else:
                statistics = spec.statistics(prompts, targets, names, sample_weight=weights)
                self._publish(with_statistics(state, spec, statistics))
        return self

    def partial_fit_features(
        self,
        features: ArrayLike,
        y: Any,
        *,
        sample_weight: ArrayLike | None = None,
        sequential: bool = False,
    ) -> Self:
        """`partial_fit` from feature rows made by `transform` instead of prompts (quality mode,
        known experts): what a replica folds from a shared feedback log that keeps rows, not
        prompts.

        Args:
            features: array of shape (n, d).
            y: per-expert scores, as in `fit` (n mappings, or an (n, k) array).
            sample_weight: array of shape (n,), positive weights (default 1).
            sequential: the statistics equal, bit for bit, those of n calls of one row each, in
                order (replicas folding a shared log in batches of any size agree), while the
                weights are solved and published once.
        """
        rows = np.asarray(features, dtype=np.float64)
        with self._writing():
            state, spec = self._fitted_state(), self.update_spec()
            d = state.statistics.n_features
            if rows.ndim != 2 or rows.shape[1] != d or not np.isfinite(rows).all():
                msg = f"features must be finite rows of shape (n, {d}) from transform(), got {rows.shape}"
                raise ValueError(msg)
            names, targets = state.statistics.names, None
            if spec.settings.target == "quality":
                names, targets = spec.targets([""] * len(rows), y, known=names)
            if targets is None or not updates_online(spec, state, names):
                msg = (
                    "feature rows can be folded into a quality-mode router of row features and "
                    "known experts only; use partial_fit with prompts"
                )
                raise ValueError(msg)
            self._fold(
                state,
                spec,
                rows,
                targets,
                _weights(sample_weight, len(rows)),
                sequential=sequential,
            )
        return self

    def feedback_leverage(self, row: ArrayLike, expert: str) -> float | None:
        """A feature row's leverage ``1/W + (x − x̄)ᵀ(S + αI)⁻¹(x − x̄)`` in `expert`'s system of
        the state in force, in O(d²) from the inverse the rank-one updates keep (row: (d,)).
        None when no update has kept one for this state (compute it from the statistics)."""
        with self._writing():
            online, state = self._online, self.state_
            if online is None or online.statistics is not state.statistics:
                return None
            if expert not in online.names or online.alpha != state.settings.penalty:
                return None
            return online.leverage(row, expert)

    def add_part(self, part: FitPart) -> Self:
        """Add a part computed with this router's fitted featurizer (e.g. summed on Dask) and
        re-solve, as `partial_fit` would on its records."""
        with self._writing():
            spec = self.update_spec()
            statistics = part.statistics
            if statistics is None:  # a part made to tune settings: its folds add up too
                statistics = part.total("tokens" if spec.uses_tokens else "rows")
            if statistics is not None:
                self._publish(with_statistics(self._fitted_state(), spec, statistics))
        return self

    def add_expert(
        self, name: str, X: Sequence[str], y: Any = None, *, expert: str | None = None
    ) -> Self:
        """Add one expert (quality mode) or domain (domain mode) from its own data only.

        Args:
            name: the new expert (quality mode) or domain (domain mode).
            X: prompts of the new domain, or prompts the new expert was scored on.
            y: quality mode: the new expert's scores on `X`, shape (n,). Unused in domain mode.
            expert: domain mode: the expert the new domain routes to (default: `name`).
        """
        prompts = validate_texts(X)
        with self._writing():
            state, spec = self._fitted_state(), self.update_spec()
            self._publish(with_expert(state, spec, name, prompts, y, expert))
        return self

    def remove_expert(self, name: str) -> Self:
        """Remove an expert (with every domain routed to it) or one domain, without refitting."""
        with self._writing():
            state = self._fitted_state()
            self._publish(without_expert(state, self.update_spec(), name))
        return self

    def _fold(
        self,
        state: RoutedState,
        spec: FitSpec,
        features: NDArray[np.float64],
        targets: NDArray[np.float64],
        weights: NDArray[np.float64] | None,
        *,
        sequential: bool = False,
    ) -> None:
        """Fold feedback rows by rank-one steps and publish (``sequential``: see `partial_fit_features`); with ``alpha="auto"``, choose α
        again from the folded feedback each time it has doubled the data (`online_alpha`).

        Rows are folded up to each choice, then the rest: folding them one call at a time or
        all in one call makes the same choices (replicas folding one log agree)."""
        sample = self._feedback_sample(state) if self.settings.alpha == "auto" else None
        online, start, n = self._online, 0, len(features)
        while start < n:
            stop = n if sample is None else min(n, start + max(sample.next_choice - sample.seen, 1))
            rows, w = slice(start, stop), None if weights is None else weights[start:stop]
            state, online = fold_feedback(
                state, spec, online, features[rows], targets[rows], w, sequential=sequential
            )
            if sample is not None:
                sample.add(features[rows], targets[rows], w)
                if sample.due:
                    grid = alpha_grid(state.statistics, replace(state.settings, alpha="auto"))
                    alpha, _ = choose_alpha(state.statistics, sample, grid)
                    sample.chosen()
                    if alpha != state.settings.penalty:
                        state, online = with_alpha(state, alpha)
                        spec = FitSpec(state.settings, spec.featurizer)
            start = stop
        self._publish(state, online)

    def _feedback_sample(self, state: RoutedState) -> FeedbackSample:
        """The reservoir of feedback rows folded since the fit (started at the first event)."""
        sample = self._feedback
        if sample is None:
            stats = state.statistics
            fitted = float(stats.weight.max()) if stats.names else 0.0
            sample = FeedbackSample(fitted, stats.n_features, len(stats.names))
            self._feedback = sample
        return sample

    def update_spec(self) -> FitSpec:
        """The `FitSpec` of data to add to this fitted router (`add_part`, `partial_fit`): the
        current settings with the fitted featurizer, and what the fit chose for ``"auto"``."""
        state, settings = self._fitted_state(), self.settings
        alpha = state.settings.penalty if settings.alpha == "auto" else settings.penalty
        aggregation = state.settings.aggregation
        if settings.aggregation != "auto":
            aggregation = settings.aggregation
        temperature = state.settings.temperature
        if settings.confidence_temperature != "auto":
            temperature = settings.temperature
        return FitSpec(settings.resolved(alpha, aggregation, temperature), state.featurizer)


def _weights(sample_weight: ArrayLike | None, n: int) -> NDArray[np.float64] | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n,) or not (np.isfinite(weights).all() and (weights > 0).all()):
        msg = f"sample_weight must hold {n} positive finite numbers, got {weights.shape}"
        raise ValueError(msg)
    return weights
