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
    assert len(blocks) >= 8
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
    assert "default True" in lines  # the selector's unsure → default
    assert any(line.startswith("unsure {'astronomy': ") for line in lines)
    assert "astronomy cost 0.01 30.0" in lines  # cost-aware: sure enough to pay for astronomy
    assert "cooking cost 0.001 30.0" in lines  # unsure: the cheap expert answers
    assert "cooking default 0.9" in lines
    assert any(line.startswith("['cooking'] {") for line in lines)
    assert "astronomy" in lines and "cooking" in lines
