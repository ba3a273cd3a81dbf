"""Merging what replicas learned: each saved router is the base plus its feedback; the sums add.

Replicas share nothing while they route. Each starts from the same base router and folds its
own feedback into its statistics (sums over prompts), so what replica r learned is exactly
``statistics(r) − statistics(base)``, and the router that learned from every replica's feedback
is the base plus the sum of those differences, solved once. No prompt is needed: this works with
``log_prompts = false``. (With prompts in the logs, a streaming or Dask fit over the training data
and the feedback logs gives the same router.)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from ir3de_core.fit.parts import FitPart
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.router import IR3DERouter

__all__ = ["feedback_statistics", "merge_replicas"]


def feedback_statistics(
    base: SufficientStatistics, replica: SufficientStatistics
) -> SufficientStatistics:
    """What a replica learned since `base`: its statistics minus the base's.

    Raises:
        ValueError: the replica was not started from `base` (other experts, features or design,
            or fewer rows than the base).
    """
    if (replica.names, replica.design, replica.n_features) != (
        base.names,
        base.design,
        base.n_features,
    ):
        msg = (
            f"the replica's statistics ({list(replica.names)}, {replica.design}, "
            f"d={replica.n_features}) are not those of the base ({list(base.names)}, "
            f"{base.design}, d={base.n_features}): merge replicas started from the same router"
        )
        raise ValueError(msg)
    if (replica.n_rows < base.n_rows).any():
        msg = "the replica has fewer rows than the base: it was not started from this base"
        raise ValueError(msg)
    return replica - base  # the exact inverse of the merge (Chan's update, reversed)


def merge_replicas(base: IR3DERouter, replicas: Sequence[IR3DERouter]) -> IR3DERouter:
    """The base router plus the feedback every replica folded in (a new router; none changes).

    Args:
        base: the router every replica started from (e.g. the file they loaded).
        replicas: the routers the replicas saved (``[feedback] save_to`` of each).

    Raises:
        ValueError: a replica did not start from `base` (statistics or featurizer differ).
    """
    merged = copy.copy(base)
    for replica in replicas:
        _check_featurizer(base, replica)
        delta = feedback_statistics(base.statistics_, replica.statistics_)
        if int(delta.n_rows.sum()):
            merged.add_part(FitPart(statistics=delta))
    return merged


def _check_featurizer(base: IR3DERouter, replica: IR3DERouter) -> None:
    mine, theirs = base.featurizer_, replica.featurizer_
    same = mine.get_config() == theirs.get_config()
    ours: dict[str, np.ndarray] = getattr(mine, "state_arrays", dict)()
    others: dict[str, np.ndarray] = getattr(theirs, "state_arrays", dict)()
    same = same and ours.keys() == others.keys()
    same = same and all(np.array_equal(ours[k], others[k]) for k in ours)
    if not same:
        msg = "a replica's featurizer differs from the base's: merge replicas of the same router"
        raise ValueError(msg)
