"""Running the gateway: `serve` in Python, `run_command` behind ``ir3de serve``."""

from __future__ import annotations

import argparse
import dataclasses
import logging

import uvicorn

from ir3de_core.router import IR3DERouter
from ir3de_serve.app import create_app
from ir3de_serve.config import GatewayConfig, load_config
from ir3de_serve.security import check_exposure

__all__ = ["run_command", "serve"]

logger = logging.getLogger("ir3de.serve")


def serve(
    config: GatewayConfig, *, router: IR3DERouter | None = None, log_level: str = "info"
) -> None:
    """Run the gateway with one uvicorn worker until interrupted (SIGINT/SIGTERM).

    Args:
        config: the validated config; the gateway binds ``[server] host`` and ``port``.
        router: route with this router instead of loading ``[router] path``.
        log_level: uvicorn's log level.

    Raises:
        ConfigError: the host is not loopback and ``[server] api_key_env`` or
            ``admin_key_env`` is not set (nothing is started).
    """
    server = config.server
    check_exposure(server.host, server.api_key_env, server.admin_key_env)
    app = create_app(config, router=router)
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        log_level=log_level,
        access_log=server.access_log,
        timeout_graceful_shutdown=10,
    )


def run_command(args: argparse.Namespace) -> int:
    """``ir3de serve --config FILE [--host H] [--port P]``."""
    config = load_config(args.config)
    changes = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if changes:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))
    serve(config, log_level="warning" if args.quiet else "info")
    return 0
