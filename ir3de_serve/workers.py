"""``ir3de serve --workers N``: N uvicorn worker processes that learn from every feedback event.

The workers share one listening socket (uvicorn's process manager). Feedback may reach any
worker, so the completions awaiting feedback are kept in a SQLite file every worker reads
(`ir3de_serve.pending`), and every accepted event goes through ``[feedback] shared_log``, which
every worker folds in order (`ir3de_serve.shared_feedback`): all workers hold the same statistics
once they have folded the same events. Each worker takes a slot 0..N-1 (a lock held for its
life; a restarted worker takes the freed slot) and saves its router and cursor to
``<save_to>.worker-<slot>``; its feedback and decision logs are ``<name>.worker-<slot><ext>``.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from ir3de_serve.config import ConfigError, GatewayConfig

__all__ = ["check_workers", "serve_workers", "worker_app", "worker_config"]

_ENV = "IR3DE_SERVE_WORKERS"
_HELD: list[IO[str]] = []  # the slot's lock, held while the worker lives


def check_workers(config: GatewayConfig) -> None:
    """Refuse several workers that would not share what they learn.

    Raises:
        ConfigError: ``[server] workers`` > 1 with feedback on and no ``[feedback] shared_log``.
    """
    if config.server.workers > 1 and config.feedback.enabled and not config.feedback.shared_log:
        msg = (
            f"--workers {config.server.workers} ([server] workers) needs [feedback] shared_log "
            '(e.g. shared_log = "feedback.sqlite"): without it each worker would learn only '
            "from the feedback that happens to reach it; or set [feedback] enabled = false"
        )
        raise ConfigError(msg)


def worker_config(config: GatewayConfig, slot: int) -> GatewayConfig:
    """The config of worker `slot`: its own save folder and log files."""
    feedback, server = config.feedback, config.server
    save_to = feedback.save_to
    return dataclasses.replace(
        config,
        feedback=dataclasses.replace(
            feedback,
            save_to=None if save_to is None else save_to.with_name(f"{save_to.name}.worker-{slot}"),
            log=_suffixed(feedback.log, slot),
        ),
        server=dataclasses.replace(server, decision_log=_suffixed(server.decision_log, slot)),
    )


def serve_workers(config: GatewayConfig, log_level: str) -> None:
    """Run ``[server] workers`` uvicorn workers until interrupted (SIGINT/SIGTERM)."""
    import pickle

    import uvicorn

    from ir3de_serve.server import KEEP_ALIVE_SECONDS

    check_workers(config)
    server = config.server
    with tempfile.TemporaryDirectory(prefix="ir3de-workers-") as folder:
        state = {"folder": folder, "workers": server.workers}
        payload = base64.b64encode(pickle.dumps(config)).decode()
        os.environ[_ENV] = json.dumps({**state, "config": payload})
        try:
            uvicorn.run(
                "ir3de_serve.workers:worker_app",
                factory=True,
                workers=server.workers,
                host=server.host,
                port=server.port,
                log_level=log_level,
                access_log=server.access_log,
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                timeout_graceful_shutdown=10,
            )
        finally:
            os.environ.pop(_ENV, None)


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory): a slot, its config, the shared files."""
    import pickle

    from ir3de_serve.app import create_app
    from ir3de_serve.server import one_blas_thread

    one_blas_thread()
    state = json.loads(os.environ[_ENV])
    config: GatewayConfig = pickle.loads(base64.b64decode(state["config"]))
    folder = Path(state["folder"])
    slot = _claim(folder, int(state["workers"]))
    return create_app(worker_config(config, slot), pending=folder / "pending.sqlite")


def _claim(folder: Path, workers: int) -> int:
    """The first free slot (its lock file held for the life of the process)."""
    for slot in range(workers * 4):  # more than N only while dead workers' locks are released
        handle = (folder / f"worker-{slot}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD.append(handle)
        return slot
    msg = f"no free worker slot among {workers * 4} in {folder}"
    raise RuntimeError(msg)


def _suffixed(path: Path | None, slot: int) -> Path | None:
    return None if path is None else path.with_name(f"{path.stem}.worker-{slot}{path.suffix}")
