"""Running the gateway: `serve` in Python, `run_command` behind ``ir3de serve``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os

import uvicorn

from ir3de_core.router import IR3DERouter
from ir3de_serve.app import create_app
from ir3de_serve.config import ConfigError, GatewayConfig, load_config
from ir3de_serve.security import check_exposure
from ir3de_serve.workers import check_workers, serve_workers

__all__ = ["KEEP_ALIVE_SECONDS", "one_blas_thread", "run_command", "serve"]

logger = logging.getLogger("ir3de.serve")
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
KEEP_ALIVE_SECONDS = 65
"""How long an idle client connection stays open. Longer than clients keep idle connections
(httpx, so the `openai` SDK: 5 s; load balancers: ~60 s), so the gateway never closes one just as
a client reuses it: with uvicorn's 5 s, clients at concurrency 64 saw ``ReadError``s."""


def one_blas_thread() -> None:
    """Run this gateway process's BLAS on one thread, unless the environment sets a count.

    A gateway's numeric work is one prompt's row against d × d matrices at a time (novelty,
    exploration's spread, a feedback fold's rank-one step): too small to gain from threads,
    while the event loop and the feedback thread already share the cores. Measured on 2 busy
    cores (docs/benchmarks.md), one fold at d = 1,024 took 25.6 ms on OpenBLAS's 2 threads and
    4.4 ms on one.
    """
    if any(os.environ.get(name) for name in _THREAD_VARIABLES):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # for the life of the process


def serve(
    config: GatewayConfig, *, router: IR3DERouter | None = None, log_level: str = "info"
) -> None:
    """Run the gateway until interrupted (SIGINT/SIGTERM): one uvicorn worker, or
    ``[server] workers`` sharing the feedback log (`ir3de_serve.workers`).

    Args:
        config: the validated config; the gateway binds ``[server] host`` and ``port``.
        router: route with this router instead of loading ``[router] path``.
        log_level: uvicorn's log level.

    Raises:
        ConfigError: the host is not loopback and ``[server] api_key_env`` or
            ``admin_key_env`` is not set, or several workers have no ``[feedback] shared_log``
            (nothing is started).
    """
    server = config.server
    check_exposure(server.host, server.api_key_env, server.admin_key_env)
    if server.workers > 1:
        if router is not None:
            msg = "serve(router=...) runs one worker; with [server] workers > 1 pass no router"
            raise ConfigError(msg)
        serve_workers(config, log_level)
        return
    one_blas_thread()
    app = create_app(config, router=router)
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        log_level=log_level,
        access_log=server.access_log,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=10,
    )


def run_command(args: argparse.Namespace) -> int:
    """``ir3de serve --config FILE [--host H] [--port P] [--workers N]``."""
    config = load_config(args.config)
    given = (("host", args.host), ("port", args.port), ("workers", getattr(args, "workers", None)))
    changes = {k: v for k, v in given if v is not None}
    if changes:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))
    if config.server.workers < 1:
        msg = f"--workers must be at least 1, got {config.server.workers}"
        raise ConfigError(msg)
    check_workers(config)
    serve(config, log_level="warning" if args.quiet else "info")
    return 0
