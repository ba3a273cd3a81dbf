"""The public API of ir3de_langchain, pinned; and the core does not import LangChain."""

from __future__ import annotations

import subprocess
import sys

import ir3de_langchain

EXPECTED_ALL = [
    "IR3DE_KEY",
    "ROUTE_EVENT",
    "SWITCH_CONFIDENCE",
    "ChatIR3DE",
    "ExpertTimeoutError",
    "ExpertsFailedError",
    "IR3DEDecider",
    "IR3DEDecisionModel",
    "IR3DEModelMiddleware",
    "IR3DERunnable",
    "IR3DEToolMiddleware",
    "router_from_descriptions",
    "tool_descriptions",
    "tool_router",
]


def test_all_imports() -> None:
    assert sorted(ir3de_langchain.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(ir3de_langchain, name) is not None


def test_the_core_does_not_import_langchain() -> None:
    code = "import sys, ir3de_core; print(any(m.startswith('langchain') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
