"""The examples in docs/llamaindex.md run as written (except those marked needs-server)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from llama_index.core.instrumentation import get_dispatcher

DOC = Path(__file__).resolve().parents[2] / "docs" / "llamaindex.md"
BLOCK = re.compile(r"(<!-- needs-server -->\n)?```python\n(.*?)```", re.DOTALL)


def test_doc_examples_run_and_print_what_they_say() -> None:
    blocks = [code for marker, code in BLOCK.findall(DOC.read_text()) if not marker]
    assert len(blocks) >= 7
    root = get_dispatcher()
    handlers = list(root.event_handlers)
    namespace: dict[str, object] = {"__name__": "docs_llamaindex"}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for code in blocks:
                exec(compile(code, str(DOC), "exec"), namespace)
    finally:
        root.event_handlers = handlers  # the docs add a printing handler
    lines = out.getvalue().splitlines()
    assert lines[0] == "['travel'] 2"
    assert "True ['travel']" in lines
    assert any(line.startswith("['cooking'] {") for line in lines)
    assert "astronomy" in lines and "cooking" in lines
