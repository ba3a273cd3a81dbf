"""Calling the chosen expert and, when it fails for a passing reason, the next one the policy picks.

Fallback is the policy deciding again without the experts that failed: the next expert is the
one the same rules (cost, threshold, default) choose among the rest. Only transient failures
(timeouts, lost connections, HTTP 408/409/425/429 and 5xx) move to another expert by default: a
request that fails for its own reasons (HTTP 400, a context-length error) would fail there too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy

__all__ = [
    "ExpertsFailedError",
    "FailurePredicate",
    "acall_with_fallback",
    "call_with_fallback",
    "is_transient",
    "next_decision",
]

T = TypeVar("T")
FailurePredicate = Callable[[BaseException], bool]
"""Decides whether an expert's exception moves the call to the next expert."""
logger = logging.getLogger("ir3de")

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
_TRANSIENT_NAMES = frozenset(
    {"APITimeoutError", "APIConnectionError", "RateLimitError", "InternalServerError",
     "ServiceUnavailableError", "TimeoutException", "ConnectError", "NetworkError",
     "RemoteProtocolError", "ReadTimeout", "ConnectTimeout", "ExpertTimeoutError"}
)  # fmt: skip


class ExpertsFailedError(RuntimeError):
    """Every expert tried for a prompt failed; `errors` maps expert name to its exception."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        tried = ", ".join(f"{e}: {type(x).__name__}: {x}" for e, x in errors.items())
        super().__init__(f"every expert tried failed ({tried}); check the experts' endpoints")


def is_transient(error: BaseException) -> bool:
    """Whether `error` (or an exception it was raised ``from``) is a passing failure.

    Transient: timeouts, connection errors, HTTP status 408, 409, 425, 429 or ≥ 500 (read from
    ``status_code``, ``status`` or ``response.status_code``), and the `openai`/`httpx`
    exceptions of those kinds. Anything else — HTTP 4xx, validation errors, bugs — is not.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = _status(current)
        if status is not None:
            return status in _TRANSIENT_STATUS or status >= 500
        if isinstance(current, TimeoutError | ConnectionError | asyncio.TimeoutError):
            return True
        if type(current).__name__ in _TRANSIENT_NAMES:
            return True
        current = current.__cause__
    return False


def _status(error: BaseException) -> int | None:
    for value in (
        getattr(error, "status_code", None),
        getattr(error, "status", None),
        getattr(getattr(error, "response", None), "status_code", None),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
    return None


def next_decision(
    decision: RoutingDecision,
    failed: dict[str, BaseException],
    policy: RoutingPolicy,
    available: Collection[str] | None,
) -> RoutingDecision | None:
    """The policy's decision among the experts that have not failed (None: none is left)."""
    pool = set(decision.scores) if available is None else set(available) & set(decision.scores)
    left = pool - set(failed)
    if not left:
        return None
    again = policy.decide_again(decision, available=left)
    return dataclasses.replace(again, fallback_from=tuple(failed))


def call_with_fallback(
    decision: RoutingDecision,
    call: Callable[[str], T],
    *,
    policy: RoutingPolicy,
    max_attempts: int = 2,
    available: Collection[str] | None = None,
    reraise: tuple[type[BaseException], ...] = (),
    fallback_on: FailurePredicate = is_transient,
) -> tuple[T, RoutingDecision]:
    """Call `call(expert)` for the decided expert; on a transient failure decide again.

    Args:
        decision: the decision made among `available`.
        call: calls one expert by name.
        policy: decides again after a failure (the policy that made `decision`).
        max_attempts: experts tried at most, the first included.
        available: the experts that may be called (None: every expert the decision scored).
        reraise: exception types that always propagate at once (control flow such as an agent
            framework's interrupts).
        fallback_on: which failures move to the next expert (default: `is_transient`); any
            other exception propagates unchanged.

    Returns:
        the result and the decision as it ended (``expert`` answered, ``fallback_from`` lists
        the experts that failed before it).

    Raises:
        ExpertsFailedError: when every attempted expert failed transiently.
    """
    errors: dict[str, BaseException] = {}
    current: RoutingDecision | None = decision
    while current is not None and len(errors) < max(1, max_attempts):
        try:
            return call(current.expert), current
        except reraise:
            raise
        except Exception as e:
            if not fallback_on(e):
                raise
            _log(current.expert, e)
            errors[current.expert] = e
        current = next_decision(decision, errors, policy, available)
    raise ExpertsFailedError(errors)


async def acall_with_fallback(
    decision: RoutingDecision,
    call: Callable[[str], Awaitable[T]],
    *,
    policy: RoutingPolicy,
    max_attempts: int = 2,
    available: Collection[str] | None = None,
    reraise: tuple[type[BaseException], ...] = (),
    fallback_on: FailurePredicate = is_transient,
) -> tuple[T, RoutingDecision]:
    """Async form of `call_with_fallback`."""
    errors: dict[str, BaseException] = {}
    current: RoutingDecision | None = decision
    while current is not None and len(errors) < max(1, max_attempts):
        try:
            return await call(current.expert), current
        except reraise:
            raise
        except Exception as e:
            if not fallback_on(e):
                raise
            _log(current.expert, e)
            errors[current.expert] = e
        current = next_decision(decision, errors, policy, available)
    raise ExpertsFailedError(errors)


def _log(expert: str, error: BaseException) -> None:
    logger.warning(
        "expert %r failed (%s: %s); deciding again without it", expert, type(error).__name__, error
    )
