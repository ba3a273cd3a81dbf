"""`create_app`: the gateway as a FastAPI application (run it with uvicorn, or `ir3de serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ir3de_core._version import __version__
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError, error_body
from ir3de_serve.gateway import Gateway
from ir3de_serve.routes import api_routes, error_response
from ir3de_serve.security import BodyLimit

__all__ = ["create_app"]

logger = logging.getLogger("ir3de.serve")


def create_app(
    config: GatewayConfig, *, router: IR3DERouter | None = None, pending: Path | None = None
) -> FastAPI:
    """The gateway application: the router is loaded (and the experts checked) now.

    Args:
        config: the validated config (`load_config`).
        router: route with this router instead of loading ``[router] path`` (it is still
            reloaded when the folder changes, and saved there with feedback).
        pending: the SQLite file of completions awaiting feedback that workers share
            (`ir3de_serve.workers`; None: in memory).

    Raises:
        ConfigError: an environment variable the config names is not set.
        ModelFileError: the router folder does not hold a valid router.
        ExpertError: the router's experts are not the config's.
    """
    gateway = Gateway(config, router=router, pending=pending)
    app = FastAPI(
        title="ir3de gateway",
        version=__version__,
        lifespan=_lifespan(gateway),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = gateway
    app.add_middleware(BodyLimit, max_bytes=config.server.max_request_bytes)
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(api_routes(gateway))
    return app


def _lifespan(gateway: Gateway) -> Callable[[FastAPI], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What startup built (imports, the router, the app) lives until exit: out of the
        # collector's reach while serving, a full collection scans only what requests made
        # (~250,000 objects were scanned each time: 40-170 ms pauses of every request in
        # flight, most of the gateway's p99 at concurrency 16)
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(_autosave(gateway), name="ir3de-autosave")]
        if gateway.config.router.reload_seconds > 0 and gateway.feedback.shared is None:
            tasks.append(asyncio.create_task(_watch(gateway), name="ir3de-reload"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await gateway.aclose()
            gc.unfreeze()  # a gateway served inside a longer-lived process leaves it as it was

    return lifespan


async def _watch(gateway: Gateway) -> None:
    """Check the router folder every ``reload_seconds``; swap in a new router."""
    while True:
        await asyncio.sleep(gateway.config.router.reload_seconds)
        try:
            outcome = await asyncio.to_thread(gateway.slot.reload_if_changed)
        except Exception:  # the watcher must outlive any surprise
            logger.exception("checking the router folder failed")
            continue
        if outcome != "unchanged":
            gateway.metrics.reloads.labels(outcome).inc()


async def _autosave(gateway: Gateway) -> None:
    """Save unsaved feedback once it is ``save_every_seconds`` old."""
    period = min(1.0, gateway.config.feedback.save_every_seconds)
    while True:
        await asyncio.sleep(period)
        if gateway.feedback.save_due():
            try:
                await gateway.feedback.save()
            except Exception:
                logger.exception("saving the router failed")


async def _gateway_error(request: Request, error: GatewayError) -> JSONResponse:
    return error_response(error)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    detail = str(error.detail)
    if error.status_code == 404:
        detail = f"no such endpoint: {request.method} {request.url.path}"
    elif error.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse(
        error_body(error.status_code, detail), status_code=error.status_code, headers=error.headers
    )


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    message = f"the gateway failed: {type(error).__name__}: {error}"
    return JSONResponse(error_body(500, message, code="internal_error"), status_code=500)
