"""The bundled sample: 120 prompts in four domains, their experts, and routers fitted on them."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from ir3de_core.data.records import Record
from ir3de_core.router import IR3DERouter

__all__ = [
    "EXAMPLES",
    "demo_records",
    "demo_router",
]

EXAMPLES = (
    "What is the integral of x * e^x?",
    "Write a Python generator that yields prime numbers.",
    "¿Puedes traducir 'good night' al francés y al alemán?",
    "Write a friendly reminder email about tomorrow's team lunch.",
    "My Go program panics with 'index out of range'; how do I find the bug?",
    "If 4 pencils cost $1.20, how much do 10 pencils cost?",
)


def demo_records() -> list[Record]:
    """The bundled sample: 30 hand-written prompts in each of four domains."""
    text = files("ir3de_cli.demo_data").joinpath("prompts.jsonl").read_text(encoding="utf-8")
    return [Record.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


def demo_expert_map() -> dict[str, str]:
    """Domain → example expert model name."""
    text = files("ir3de_cli.demo_data").joinpath("experts.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def demo_router(featurizer: str | dict[str, Any] = "tokens", **settings: Any) -> IR3DERouter:
    """A router fitted on the bundled sample (`settings`: IR3DERouter keyword arguments)."""
    records = demo_records()
    router = IR3DERouter(featurizer, target="domain", expert_map=demo_expert_map(), **settings)
    return router.fit([r.prompt for r in records], [r.domain for r in records])
