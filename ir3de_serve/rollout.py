"""`Rollout`: the gateway's shadow candidate, its promotion, and rollback over named versions.

A promotion keeps the router in force as a version (as it is now, with the feedback it has
learned), keeps the candidate as a version, then switches: the candidate is loaded back from
its kept files as untrusted data, probed (`check_routes`), written into the router folder
atomically and swapped in (`RouterSlot.publish`). A rollback switches back to the version in
force before. Both are written to the versions' ``history.jsonl`` and to the log.

With a shared feedback log (replicas) promotion and rollback are refused: every replica must
fold the same events into the same base router, so a new router means new replicas on a new
log (docs/serving.md, Replicas).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from ir3de_core.experts import check_experts
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.shadow import Shadow
from ir3de_serve.storage import RouterSlot, check_routes
from ir3de_serve.versions import VersionStore

__all__ = ["Rollout"]

logger = logging.getLogger("ir3de.serve")


class Rollout:
    """Shadow, promote, roll back.

    Args:
        config: the gateway config (``[router]``, ``[shadow]``, ``[feedback]``).
        slot: the router in force.
    """

    def __init__(self, config: GatewayConfig, slot: RouterSlot) -> None:
        self.config = config
        self.slot = slot
        self.signing_key = config.router.signing_key()
        self.store = VersionStore(
            config.router.path, config.router.versions, load=self.load,
            signing_key=self.signing_key,
        )  # fmt: skip
        self.shadow: Shadow | None = None
        self._lock = threading.Lock()
        if config.shadow.router is not None:
            self.start_shadow(self.load(config.shadow.router), config.shadow.name)

    def load(self, path: Path) -> IR3DERouter:
        """Load a router folder as untrusted data, checked like the router in force."""
        router = IR3DERouter.load(
            path,
            featurizer_options=self.config.router.featurizer_options,
            signing_key=self.signing_key,
        )
        check_experts(router, self.config.experts, what="[[experts]] entry")
        check_routes(router)
        return router

    def start_shadow(self, candidate: IR3DERouter, name: str | None, *, kept: bool = False) -> None:
        """Shadow `candidate` (checked; `kept`: the version `name`), replacing any shadow."""
        if candidate.target != "quality":
            msg = "a shadow candidate must be a quality-mode router (its estimate needs scores)"
            raise GatewayError(409, msg, code="shadow_refused")
        self.shadow = Shadow(
            candidate,
            self.config.resolve_policy(candidate.policy_),
            name=name,
            kept=kept,
            experts=list(self.config.experts),
            config=self.config.shadow,
            window=self.config.feedback.window_seconds,
            max_pending=self.config.feedback.max_pending,
        )
        logger.info("shadowing candidate router %s", name or self.config.shadow.router)

    async def reward(self, completion_id: str, score: Any) -> None:
        """Feedback for a completion: the shadow's event; maybe auto-promote (a failure to
        promote is logged, never the feedback's error)."""
        shadow = self.shadow
        if shadow is None or not shadow.reward(completion_id, score) or not shadow.due():
            return
        shadow.checked_at = shadow.n_events
        try:
            gain = await asyncio.to_thread(shadow.estimate)
            if gain is not None and gain.beats_logging():
                note = f"auto: DR gain {gain.dr_gain.value:+.4g} [{gain.dr_gain.low:+.4g}, "
                note += f"{gain.dr_gain.high:+.4g}] on {gain.values.n} events"
                await asyncio.to_thread(self.promote, None, note=note, expected=shadow)
        except Exception:  # the router in force stays; the next check tries again
            logger.exception("auto-promoting the shadow candidate failed")

    def promote(
        self, name: str | None = None, *, note: str = "", expected: Shadow | None = None
    ) -> dict[str, Any]:
        """Put version `name` (None: the shadow candidate) in force; what the endpoint answers
        (``promoted: None`` when `expected` is no longer the shadow: nothing done).

        Raises:
            GatewayError: 409 with a shared log, without a candidate, or a refused router.
        """
        self._check_single()
        with self._lock:
            shadow = self.shadow
            if expected is not None and shadow is not expected:
                return {"promoted": None}  # promoted or replaced meanwhile
            if name is None:
                if shadow is None:
                    msg = "no shadow candidate to promote: name a version, or start a shadow"
                    raise GatewayError(409, msg, code="no_candidate")
                if not shadow.kept:
                    taken = {v.name for v in self.store.kept()}
                    wanted = shadow.name if shadow.name not in taken else None
                    shadow.name = self.store.keep(shadow.candidate, wanted, note="candidate")
                    shadow.kept = True
                name = str(shadow.name)
            _, outgoing = self.store.switch(
                name, install=self._install, outgoing=self.slot.router, note=note or "manual"
            )
            if shadow is not None and shadow.name == name:
                self.shadow = None  # the candidate is the router in force now
        logger.warning("router version %s promoted (was %s): %s", name, outgoing, note)
        return {"promoted": name, "previous": outgoing, "router_version": self.slot.version}

    def rollback(self, *, note: str = "") -> dict[str, Any]:
        """Put back the version in force before the current one."""
        self._check_single()
        with self._lock:
            before = self.store.current()
            name, _ = self.store.rollback(install=self._install, note=note or "manual")
        logger.warning("router rolled back from version %s to %s", before, name)
        return {"rolled_back_to": name, "from": before, "router_version": self.slot.version}

    def versions(self) -> dict[str, Any]:
        """What ``GET /admin/versions`` answers."""
        return {
            "current": self.store.current(),
            "versions": [v.to_dict() for v in self.store.kept()],
            "history": self.store.history()[-50:],
        }

    def _install(self, router: IR3DERouter) -> None:
        self.slot.publish(router, self.signing_key)

    def _check_single(self) -> None:
        if self.config.feedback.shared_log is not None:
            msg = (
                "promotion and rollback are off with [feedback] shared_log: replicas fold one "
                "log into one base router; publish a new router by starting the replicas on it "
                "with a new log (docs/serving.md, Replicas)"
            )
            raise GatewayError(409, msg, code="shared_log")
