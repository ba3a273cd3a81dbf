"""Small labelled prompt sets shared by the core tests."""

from __future__ import annotations

import pytest

from ir3de_core.data.records import Record
from ir3de_core.demo import demo_records


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
