"""Which cross-validated candidate a fit keeps: the best routing one, or "no prompt signal".

The routing candidate with the highest held-out score wins among routing candidates (ties: the
most regularised). It replaces "no signal" (every prompt to the best single expert) only when
its paired per-prompt gain over no signal exceeds `SE_MARGIN` standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ir3de_core.fit.held_out import FoldRun, HeldOut
from ir3de_core.settings import Aggregation

__all__ = [
    "SE_MARGIN",
    "Scored",
    "best_at_top",
    "choose",
    "drop_dominated_runs",
    "per_prompt",
    "tied",
    "top_routing",
]

SE_MARGIN = 1.0
"""How many standard errors of the paired per-prompt gain routing must beat no signal by."""


@dataclass(frozen=True, eq=False)
class Scored:
    """One candidate's held-out result."""

    aggregation: Aggregation
    alpha: float
    score: float
    error: float
    run: FoldRun | None  # dropped once another candidate scores higher (it cannot be chosen)
    outcome: NDArray[np.float64]


def drop_dominated_runs(scored: list[Scored]) -> None:
    """Forget the held-out tables of routing candidates that score below the best so far (only
    a top candidate can be chosen, and a table holds n × k numbers three times)."""
    finite = [s.score for s in scored if s.alpha != math.inf and math.isfinite(s.score)]
    if not finite:
        return
    top = max(finite)
    for i, s in enumerate(scored):
        if s.run is not None and s.alpha != math.inf and not tied(s.score, top):
            scored[i] = replace(s, run=None)


def tied(score: float, top: float) -> bool:
    return score >= top - 1e-12 * max(1.0, abs(top))


def choose(
    scored: list[Scored], held: HeldOut, domain_mode: bool
) -> tuple[Scored, float | None, list[float]]:
    """The chosen candidate, the standard error of its held-out gain over no signal, and that
    gain's mean in each fold.

    Among routing candidates the highest score wins; among ties the most regularised one (in
    quality mode: the largest α whose held-out squared error is within 1 % of the lowest). It
    must then beat "no prompt signal" by more than one standard error of the paired per-prompt
    difference (the one-standard-error rule: with as good a score, the simpler model), else no
    signal is chosen. Under the AIQ criterion, a single number per candidate, by any margin.
    """
    finite = [s for s in scored if math.isfinite(s.score)]
    if not finite:
        return scored[0], None, []
    routing = [s for s in finite if s.alpha != math.inf]
    none = next((s for s in finite if s.alpha == math.inf), None)
    if not routing:
        return finite[0], None, []
    pick = top_routing(routing, domain_mode)
    if none is None:
        return pick, None, []
    if not per_prompt(held, domain_mode):
        return (pick if pick.score > none.score else none), None, []
    gain = pick.outcome - none.outcome
    known = ~np.isnan(gain)
    folds = [gain[known & (held.folds == f)] for f in range(int(held.folds.max()) + 1)]
    fold_gains = [float(g.mean()) for g in folds if g.size]
    gain = gain[known]
    se = float(gain.std(ddof=1) / math.sqrt(gain.size)) if gain.size > 1 else math.inf
    return (pick if float(gain.mean()) > SE_MARGIN * se else none), se, fold_gains


def top_routing(routing: list[Scored], domain_mode: bool) -> Scored:
    """The best routing candidate: the highest score; among ties the most regularised one."""
    top = max(s.score for s in routing)
    best = [s for s in routing if tied(s.score, top)]
    if not domain_mode:
        errors = [s.error for s in best if math.isfinite(s.error)]
        if errors:
            near = 1.01 * min(errors)
            best = [s for s in best if math.isfinite(s.error) and s.error <= near] or best
    return max(best, key=lambda s: s.alpha)


def best_at_top(scored: list[Scored], domain_mode: bool) -> float | None:
    """The largest α tried, when the best routing candidate has it (else None)."""
    routing = [s for s in scored if s.alpha != math.inf and math.isfinite(s.score)]
    if not routing:
        return None
    largest = max(s.alpha for s in routing)
    return largest if top_routing(routing, domain_mode).alpha == largest else None


def per_prompt(held: HeldOut, domain_mode: bool) -> bool:
    """Whether the criterion is a mean over prompts (a threshold can then be chosen on it)."""
    return domain_mode or held.costs is None
