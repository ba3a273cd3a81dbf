"""Fixtures of the gateway tier: a small quality-mode router, configs, gateways on loopback."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve import Gateway, create_app, parse_config
from tests.serve.fakes import FakeUpstream
from tests.serve.servers import serving

MATH = [
    "solve the integral of x squared",
    "prove that the square root of two is irrational",
    "compute the derivative of sin x times x",
    "what is the sum of the first hundred integers",
    "factor the polynomial x squared minus four",
    "find the eigenvalues of this matrix",
]
CODE = [
    "write a python function that sorts a list",
    "fix this javascript bug in my loop",
    "implement a linked list class in java",
    "why does my rust code not compile",
    "write a sql query joining two tables",
    "refactor this python class into functions",
]


def fit_router(good_at_math: str = "alpha", good_at_code: str = "beta") -> IR3DERouter:
    """A quality-mode router on hashed words: `good_at_math` wins math, `good_at_code` code."""
    prompts = MATH + CODE
    scores = [{good_at_math: 0.9, good_at_code: 0.2} for _ in MATH]
    scores += [{good_at_math: 0.2, good_at_code: 0.9} for _ in CODE]
    return IR3DERouter({"kind": "hashing", "n_features": 256}, target="quality").fit(
        prompts, scores
    )


def closed_form_leverage(
    router: IR3DERouter, prompts: list[str], x: np.ndarray, weights: list[float] | None = None
) -> float:
    """x̃ᵀA⁻¹x̃ with A = X̃ᵀWX̃ + diag(0, αI), X̃ the training rows with a column of ones."""
    rows = router.transform(prompts)
    design = np.hstack([np.ones((len(rows), 1)), rows])
    w = np.ones(len(rows)) if weights is None else np.asarray(weights)
    penalty = np.diag([0.0] + [float(router.state_.settings.penalty)] * rows.shape[1])
    augmented = np.concatenate([[1.0], x])
    system = design.T @ (w[:, None] * design) + penalty
    return float(augmented @ np.linalg.solve(system, augmented))


@pytest.fixture
def router_dir(tmp_path: Path) -> Path:
    """A saved router folder (alpha: math, beta: code)."""
    return fit_router().save(tmp_path / "router")


def config_data(path: Path, upstreams: Mapping[str, str], **tables: Any) -> dict[str, Any]:
    """A config mapping for the router folder `path`: one expert per upstream base URL, no
    reload, no periodic save, scores in [0, 1], and feedback bounds loose enough for the tests
    that learn (the bounds have tests of their own); `tables` update the config's tables."""
    data: dict[str, Any] = {
        "router": {"path": str(path), "reload_seconds": 0},
        "experts": [{"name": n, "base_url": f"{u}/v1", "model": n} for n, u in upstreams.items()],
        "server": {"cooldown_seconds": 0},
        "feedback": {
            "save_every_events": 1000,
            "save_every_seconds": 3600,
            "score_range": [0.0, 1.0],
            "key_share": 1000.0,
            "key_rate_per_minute": 60000.0,
        },
    }
    for table, values in tables.items():
        data[table] = {**data.get(table, {}), **values}
    return data


@contextmanager
def gateway(data: Mapping[str, Any], base: Path | None = None) -> Iterator[str]:
    """A gateway built from `data`, served by uvicorn on 127.0.0.1; yields its base URL."""
    with serving(create_app(parse_config(data, base=base))) as url:
        yield url


@contextmanager
def gateway_app(data: Mapping[str, Any]) -> Iterator[tuple[Gateway, str]]:
    """Like `gateway`, and yields the `Gateway` too (its router, feedback and metrics)."""
    app = create_app(parse_config(data))
    with serving(app) as url:
        yield app.state.gateway, url


@pytest.fixture
def upstreams() -> Iterator[tuple[dict[str, FakeUpstream], dict[str, str]]]:
    """Two fake experts (alpha, beta) on loopback: the apps and their base URLs."""
    fakes = {"alpha": FakeUpstream("alpha"), "beta": FakeUpstream("beta")}
    with serving(fakes["alpha"]) as a, serving(fakes["beta"]) as b:
        yield fakes, {"alpha": a, "beta": b}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server on loopback for the session (skips when none can be started)."""
    from tests.serve.replica_procs import postgres_server

    with postgres_server() as server:
        if isinstance(server, str):
            pytest.skip(server)
        yield server
