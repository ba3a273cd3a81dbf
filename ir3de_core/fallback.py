"""Calling the chosen expert and, when it fails, the next-best ones: used by every adapter."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ir3de_core.decision import RoutingDecision

__all__ = [
    "ExpertsFailedError",
    "acall_with_fallback",
    "answered_by",
    "attempt_order",
    "call_with_fallback",
]

T = TypeVar("T")
logger = logging.getLogger("ir3de")


class ExpertsFailedError(RuntimeError):
    """Every expert tried for a prompt failed; `errors` maps expert name to its exception."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        tried = ", ".join(f"{e}: {type(x).__name__}: {x}" for e, x in errors.items())
        super().__init__(f"every expert tried failed ({tried}); check the experts' endpoints")


def attempt_order(
    decision: RoutingDecision, max_attempts: int, available: set[str] | None = None
) -> list[str]:
    """Experts to try, best first: the chosen one, then the next-best by score."""
    ranking = [e for e in decision.ranking() if available is None or e in available]
    return ranking[: max(1, max_attempts)]


def call_with_fallback(
    decision: RoutingDecision,
    call: Callable[[str], T],
    *,
    max_attempts: int = 2,
    available: set[str] | None = None,
    reraise: tuple[type[BaseException], ...] = (),
) -> tuple[T, RoutingDecision]:
    """Call `call(expert)` for the chosen expert, falling back to the next-best on an exception.

    Exceptions of the `reraise` types (control flow such as an agent framework's interrupts) are
    never retried on another expert: they propagate at once.

    Returns:
        the result and the decision actually used (``expert`` is the one that answered and
        ``fallback_from`` lists the experts that failed before it).

    Raises:
        ExpertsFailedError: when every attempted expert raised.
    """
    errors: dict[str, BaseException] = {}
    for expert in attempt_order(decision, max_attempts, available):
        try:
            result = call(expert)
        except reraise:
            raise
        except Exception as e:  # recorded, logged and re-raised if all fail
            logger.warning(
                "expert %r failed (%s: %s); trying the next-best", expert, type(e).__name__, e
            )
            errors[expert] = e
            continue
        return result, answered_by(decision, expert, errors)
    raise ExpertsFailedError(errors)


async def acall_with_fallback(
    decision: RoutingDecision,
    call: Callable[[str], Awaitable[T]],
    *,
    max_attempts: int = 2,
    available: set[str] | None = None,
    reraise: tuple[type[BaseException], ...] = (),
) -> tuple[T, RoutingDecision]:
    """Async form of `call_with_fallback`."""
    errors: dict[str, BaseException] = {}
    for expert in attempt_order(decision, max_attempts, available):
        try:
            result = await call(expert)
        except reraise:
            raise
        except Exception as e:
            logger.warning(
                "expert %r failed (%s: %s); trying the next-best", expert, type(e).__name__, e
            )
            errors[expert] = e
            continue
        return result, answered_by(decision, expert, errors)
    raise ExpertsFailedError(errors)


def answered_by(
    decision: RoutingDecision, expert: str, errors: dict[str, BaseException]
) -> RoutingDecision:
    """The decision as it ended: answered by `expert` after the experts in `errors` failed."""
    if not errors:
        return decision
    return dataclasses.replace(decision, expert=expert, fallback_from=tuple(errors))
