"""Replicas' feedback adds up: summing saved statistics equals one router that saw it all."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ir3de_serve import feedback_statistics, merge_replicas
from tests.serve.conftest import CODE, MATH, fit_router


def test_merged_replicas_equal_one_router_that_saw_every_event(tmp_path) -> None:
    base = fit_router()
    events_a = [(p, {"alpha": 0.1}) for p in MATH[:4]]
    events_b = [(p, {"beta": 0.3}) for p in CODE[:3]] + [(MATH[5], {"beta": 0.8})]
    replicas, everything = [], copy.copy(base)
    for events in (events_a, events_b):
        replica = copy.copy(base)
        for prompt, scores in events:
            replica.partial_fit([prompt], [scores])
            everything.partial_fit([prompt], [scores])
        replicas.append(replica.save(tmp_path / f"replica-{len(replicas)}"))
    base.save(tmp_path / "base")
    from ir3de_core import IR3DERouter

    merged = merge_replicas(
        IR3DERouter.load(tmp_path / "base"), [IR3DERouter.load(p) for p in replicas]
    )
    assert merged.statistics_.equals(everything.statistics_, atol=1e-9)  # exactly the same data
    # the weights: a re-solve against rank-one updates, equal up to their round-off
    np.testing.assert_allclose(merged.coef_, everything.coef_, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(merged.intercept_, everything.intercept_, rtol=1e-5, atol=1e-8)
    assert merged.statistics_.n_rows.sum() == base.statistics_.n_rows.sum() + 8
    assert (
        base.statistics_.n_rows.sum()
        == IR3DERouter.load(tmp_path / "base").statistics_.n_rows.sum()
    )


def test_a_replica_of_another_router_is_refused() -> None:
    base, other = fit_router(), fit_router(good_at_math="alpha", good_at_code="gamma")
    with pytest.raises(ValueError, match="merge replicas started from the same router"):
        feedback_statistics(base.statistics_, other.statistics_)
    with pytest.raises(ValueError, match="fewer rows than the base"):
        bigger = copy.copy(base).partial_fit([MATH[0]], [{"alpha": 1.0}])
        feedback_statistics(bigger.statistics_, base.statistics_)
