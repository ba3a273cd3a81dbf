"""The admin endpoints (admin key): router versions, the shadow candidate, promote, rollback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from ir3de_core.exceptions import IR3DEError
from ir3de_serve.errors import GatewayError
from ir3de_serve.messages import parse_json
from ir3de_serve.rollout import Rollout
from ir3de_serve.security import KeyRing
from ir3de_serve.versions import VersionError

__all__ = ["admin_routes"]


def admin_routes(rollout: Rollout, admins: KeyRing) -> APIRouter:
    """``/admin/versions``, ``/admin/shadow``, ``/admin/promote``, ``/admin/rollback``."""
    api = APIRouter()

    async def guarded(request: Request, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        admins.check(request.headers.get("authorization"))
        try:
            return await asyncio.to_thread(work)
        except VersionError as e:
            status = 404 if str(e).startswith("no router version") else 409
            raise GatewayError(status, _hide(rollout, e), code="version_error") from e
        except (IR3DEError, ValueError, OSError) as e:
            msg = f"router refused, the one in force stays: {type(e).__name__}: {_hide(rollout, e)}"
            raise GatewayError(422, msg, code="router_refused") from e

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return parse_json(raw) if raw.strip() else {}

    @api.get("/admin/versions")
    async def versions(request: Request) -> dict[str, Any]:
        return await guarded(request, rollout.versions)

    @api.get("/admin/shadow")
    async def shadow(request: Request) -> dict[str, Any]:
        def report() -> dict[str, Any]:
            shadow = rollout.shadow
            if shadow is None:
                raise GatewayError(404, "no shadow candidate: see POST /admin/shadow")
            return shadow.report(rollout.estimate(shadow))

        return await guarded(request, report)

    @api.post("/admin/shadow")
    async def start_shadow(request: Request) -> dict[str, Any]:
        admins.check(request.headers.get("authorization"))
        name = _version(await body(request), required=True)

        def start() -> dict[str, Any]:
            rollout.start_shadow(rollout.store.load(str(name)), name, kept=True)
            return {"shadow": name}

        return await guarded(request, start)

    @api.post("/admin/promote")
    async def promote(request: Request) -> dict[str, Any]:
        admins.check(request.headers.get("authorization"))
        name = _version(await body(request), required=False)
        return await guarded(request, lambda: rollout.promote(name, note="manual"))

    @api.post("/admin/rollback")
    async def rollback(request: Request) -> dict[str, Any]:
        return await guarded(request, lambda: rollout.rollback(note="manual"))

    return api


def _version(body: dict[str, Any], *, required: bool) -> str | None:
    name = body.get("version")
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name:
        msg = "'version' must name a kept router version (GET /admin/versions lists them)"
        raise GatewayError(400, msg, param="version")
    return name


def _hide(rollout: Rollout, error: Exception) -> str:
    """The message without the server's paths."""
    text = str(error).replace(str(rollout.store.folder), "<versions>")
    return text.replace(str(rollout.store.router_path), "<router.path>")
