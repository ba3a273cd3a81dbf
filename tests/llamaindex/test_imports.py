"""The public API of ir3de_llamaindex, pinned; and the core stays free of llama_index."""

from __future__ import annotations

import subprocess
import sys

import ir3de_llamaindex

EXPECTED_ALL = [
    "DECISION_KEY",
    "IR3DELLM",
    "EmbeddingFeaturizer",
    "IR3DEEmbedding",
    "IR3DERoutingEvent",
    "IR3DESelector",
    "IR3DESelectorResult",
    "IR3DEToolRetriever",
    "NoChoiceError",
]


def test_all_imports() -> None:
    assert sorted(ir3de_llamaindex.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(ir3de_llamaindex, name) is not None


def test_core_does_not_import_llama_index() -> None:
    code = "import sys, ir3de_core; print(any(m.startswith('llama_index') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
