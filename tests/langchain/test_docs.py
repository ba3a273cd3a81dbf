"""The examples of docs/langchain.md run as written (one namespace, in order)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "langchain.md"


def test_every_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_langchain"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
        except Exception as e:
            msg = f"example {i} of {DOC.name} failed: {type(e).__name__}: {e}\n{block}"
            raise AssertionError(msg) from e
