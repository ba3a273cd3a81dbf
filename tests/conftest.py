"""Shared fixtures: the bundled sample prompts, the public routing data in ../shared/data and a
real local LLM server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ir3de_cli.sample import demo_records
from ir3de_core.data.records import Record
from tests.llm_server import llm_python, running_llm_server

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$IR3DE_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("IR3DE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared benchmark data; tests that need it skip with a message when it is absent."""
    path = shared_data_dir()
    if not (path / "routerdc").is_dir():
        pytest.skip(f"shared routing data not found at {path}; set IR3DE_SHARED_DATA to its path")
    return path


@pytest.fixture(scope="session")
def llm_base_url() -> Iterator[str]:
    """Base URL of a real llama.cpp server (Gemma 3 270M) on 127.0.0.1, for the e2e tier."""
    if llm_python() is None:
        pytest.skip("set IR3DE_LLM_PYTHON to a python with llama-cpp-python[server] (.ci/run does)")
    with running_llm_server() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def records() -> list[Record]:
    """The bundled demo sample: 120 prompts in four domains."""
    return demo_records()


@pytest.fixture(scope="session")
def prompts(records: list[Record]) -> list[str]:
    return [r.prompt for r in records]


@pytest.fixture(scope="session")
def domains(records: list[Record]) -> list[str]:
    return [r.domain for r in records]  # type: ignore[misc]


@pytest.fixture(scope="session")
def quality_scores(domains: list[str]) -> list[dict[str, float]]:
    """Synthetic per-expert scores: each expert is good on its own domain."""
    experts = {"math": "m", "code": "c", "multilingual": "l", "writing": "w"}
    return [
        {e: (0.9 if experts[d] == e else 0.2) + 0.01 * (i % 7) for e in experts.values()}
        for i, d in enumerate(domains)
    ]
