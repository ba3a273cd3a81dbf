"""The one check every adapter makes: a fitted router, and exactly one model per router expert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ir3de_core.exceptions import ExpertError, NotFittedError
from ir3de_core.router import IR3DERouter

__all__ = ["check_experts"]


def check_experts(router: Any, experts: Any, *, what: str = "model") -> None:
    """Raise unless `router` is fitted and `experts` maps each of its experts to one `what`.

    Args:
        router: an `IR3DERouter` (anything with ``experts_``).
        experts: expert name → the model (runnable, chat model, LLM) that answers for it.
        what: what the values are, for messages (``"chat model"``, ``"runnable"``, ...).

    Raises:
        TypeError: `router` is not a router, or `experts` is not a mapping.
        NotFittedError: the router is not fitted.
        ExpertError: an expert of the router has no model, or a model no expert of the router
            (it could never be chosen).
    """
    if not isinstance(router, IR3DERouter):
        msg = f"router must be a fitted IR3DERouter, got {type(router).__name__}"
        raise TypeError(msg)
    if not isinstance(experts, Mapping) or not experts:
        msg = f"experts must map each expert name to its {what}: experts={{'name': {what}}}"
        raise TypeError(msg)
    if not hasattr(router, "state_"):
        msg = "the router is not fitted; fit it (router.fit(prompts, labels)) or load a saved one"
        raise NotFittedError(msg)
    routed, given = set(router.experts_), set(experts)
    missing, extra = sorted(routed - given), sorted(given - routed)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the router routes to {missing} but experts has no {what} for them")
        if extra:
            parts.append(f"experts has {what}s for {extra}, which the router never chooses")
        msg = "; ".join(parts) + " (add them with router.add_expert, or fix experts=)"
        raise ExpertError(msg)
