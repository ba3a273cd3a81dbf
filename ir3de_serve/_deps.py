"""The gateway's optional dependencies, checked before any of them is imported."""

from __future__ import annotations

from ir3de_core._optional import require

__all__: list[str] = []

for _module in ("fastapi", "uvicorn", "openai", "aiohttp", "prometheus_client"):
    require(_module, "serve")
