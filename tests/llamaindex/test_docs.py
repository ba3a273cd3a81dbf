"""The examples in docs/llamaindex.md run as written (except the one marked needs-server, whose
experts are real servers), agents included."""

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
    assert lines[-3:] == [  # the agent's thread, run offline under asyncio.run
        "math best 2 plus 3 is 5.",
        "math sticky Counting on 3 from 2 gives 5.",
        "cooking best Feed it flour and water every day.",
    ]


def test_only_the_experts_of_real_servers_are_skipped() -> None:
    blocks = BLOCK.findall(DOC.read_text())
    skipped = [code for marker, code in blocks if marker]
    assert len(skipped) == 1 and "OpenAILike(" in skipped[0]
    compile(skipped[0], str(DOC), "exec")  # not run, but valid Python
    # an agent's run() needs a running loop: asyncio.run(agent.run(...)) fails in 0.14
    assert not any(re.search(r"asyncio\.run\(\w+\.run\(", code) for _, code in blocks)
