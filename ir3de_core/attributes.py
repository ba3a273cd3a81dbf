"""The scikit-learn style fitted attributes of a router, read from its one `RoutedState`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import NotFittedError

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import RoutedState
from ir3de_core.featurizers import Featurizer
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["FittedAttributes"]


class FittedAttributes:
    """``coef_``, ``experts_``, ``policy_`` ...: read-only views of ``state_``, the fitted state.

    Each read takes the state once, so it is consistent even while another thread updates the
    router (which replaces ``state_`` in one assignment).
    """

    def _fitted_state(self) -> RoutedState:
        state = self.__dict__.get("state_")
        if state is None:
            msg = (
                "this IR3DERouter is not fitted yet; call fit(prompts, y) or IR3DERouter.load(dir)"
            )
            raise NotFittedError(msg)
        return state

    @property
    def alpha_(self) -> float:
        """The ridge penalty in use (chosen by cross-validation when ``alpha="auto"``)."""
        return self._fitted_state().settings.penalty

    @property
    def aggregation_(self) -> str:
        """The token aggregation in use (chosen by cross-validation when ``"auto"``)."""
        return str(self._fitted_state().settings.aggregation)

    @property
    def cv_results_(self) -> dict[str, Any] | None:
        """What cross-validation tried and chose (the fields of `ir3de_core.fit.tuning.TuningResult`:
        ``alpha``, ``aggregation``, ``threshold``, ``candidates`` with each one's held-out
        ``score``, ...; α = ``inf`` is "no prompt signal"), None when nothing was tuned."""
        tuning = self._fitted_state().tuning
        return None if tuning is None else asdict(tuning)

    @property
    def coef_(self) -> NDArray[np.float64]:
        """Ridge weights: array of shape (d, k_groups)."""
        return self._fitted_state().solution.coef

    @property
    def intercept_(self) -> NDArray[np.float64]:
        """Ridge intercepts: array of shape (k_groups,)."""
        return self._fitted_state().solution.intercept

    @property
    def statistics_(self) -> SufficientStatistics:
        """The sufficient statistics of everything the router was fitted on."""
        return self._fitted_state().statistics

    @property
    def featurizer_(self) -> Featurizer:
        """The fitted featurizer."""
        return self._fitted_state().featurizer

    @property
    def expert_map_(self) -> dict[str, str]:
        """Domain mode: domain → expert."""
        mapping = self._fitted_state().expert_map
        if mapping is None:
            msg = "expert_map_ exists in domain mode only (target='domain')"
            raise AttributeError(msg)
        return dict(mapping)

    @property
    def policy_(self) -> RoutingPolicy:
        """The policy decisions are made with."""
        return self._fitted_state().policy

    @property
    def prior_(self) -> str | None:
        """The best expert without looking at the prompt (the best single expert)."""
        return self._fitted_state().prior

    @property
    def groups_(self) -> tuple[str, ...]:
        """Columns of the regression: domains (domain mode) or experts (quality mode)."""
        return self._fitted_state().groups

    @property
    def experts_(self) -> tuple[str, ...]:
        """Expert names, in score order."""
        return self._fitted_state().experts

    @property
    def n_features_in_(self) -> int:
        """Feature width d."""
        return self._fitted_state().statistics.n_features
