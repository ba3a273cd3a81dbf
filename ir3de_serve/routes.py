"""The gateway's endpoints: OpenAI's chat completions and models, feedback, health, metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ir3de_serve.admin import admin_routes
from ir3de_serve.config import ROUTED_MODEL
from ir3de_serve.errors import GatewayError, error_body
from ir3de_serve.gateway import Gateway
from ir3de_serve.messages import parse_chat, parse_json
from ir3de_serve.metrics import CONTENT_TYPE
from ir3de_serve.security import KeyRing
from ir3de_serve.upstream import UpstreamStream

__all__ = ["api_routes"]

logger = logging.getLogger("ir3de.serve")
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def api_routes(gateway: Gateway) -> APIRouter:
    """The endpoints of `gateway`: the client keys guard chat and models, the feedback/admin
    keys (the client keys when none are set) guard feedback, metrics and the full health."""
    server = gateway.config.server
    clients = KeyRing(server.api_key_env, "[server] api_key_env")
    admins = (
        KeyRing(server.admin_key_env, "[server] admin_key_env") if server.admin_key_env else clients
    )
    api = APIRouter()
    created = int(time.time())

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            client = clients.check(request.headers.get("authorization"))
            chat = parse_chat(
                await request.body(),
                request.headers,
                gateway.config.sticky,
                client=client,
                max_n=server.max_n,
                max_messages=server.max_messages,
            )
            answer = await gateway.chat(chat)
        except GatewayError as e:
            gateway.metrics.requests.labels(str(e.status)).inc()
            raise
        gateway.metrics.requests.labels("200").inc()
        if answer.stream is not None:
            headers = {**answer.headers(), **_STREAM_HEADERS}
            events = _events(answer.stream)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        return Response(answer.body, media_type="application/json", headers=answer.headers())

    @api.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        clients.check(request.headers.get("authorization"))
        names = [ROUTED_MODEL, *gateway.config.experts]
        data = [
            {"id": n, "object": "model", "created": created, "owned_by": "ir3de"} for n in names
        ]
        return {"object": "list", "data": data}

    @api.post("/v1/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        client = admins.check(request.headers.get("authorization"))
        answer = await gateway.feedback.submit(parse_json(await request.body()), client=client)
        await gateway.rollout.reward(answer["id"], answer.get("score"))
        return answer

    @api.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        if admins.client(request.headers.get("authorization")) is None:
            return {"status": "ok"}  # without the admin key: nothing about the gateway
        router, _, version = gateway.slot.current
        experts = list(router.experts_)
        return {
            "status": "ok",
            "router": {"version": version, "experts": experts, "refused": gateway.slot.refused},
            "experts_up": gateway.health.available(experts),
            "feedback": gateway.feedback.stats(),
        }

    api.include_router(admin_routes(gateway.rollout, admins))

    @api.get("/metrics")
    async def metrics(request: Request) -> Response:
        admins.check(request.headers.get("authorization"))
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)

    return api


async def _events(stream: UpstreamStream) -> AsyncIterator[bytes]:
    """The expert's events, passed on as they come; a stream that breaks ends with an error
    event (the status is already sent), and the upstream is closed whatever happens."""
    try:
        if stream.first:
            yield stream.first
        async for event in stream.rest:
            yield event
    except Exception as e:
        logger.warning("an expert's stream broke: %s: %s", type(e).__name__, e)
        body = error_body(502, f"the expert's stream broke: {type(e).__name__}: {e}")
        yield f"data: {json.dumps(body)}\n\n".encode()
    finally:
        with anyio.CancelScope(shield=True):
            await stream.close()


def error_response(error: GatewayError) -> JSONResponse:
    """The JSON response of a `GatewayError`."""
    return JSONResponse(error.body, status_code=error.status)
