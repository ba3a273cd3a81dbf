"""`ir3de serve`: an OpenAI-compatible gateway that routes each request and learns from feedback.

Needs the ``serve`` extra (``pip install 'ir3de[serve]'``: FastAPI, uvicorn, the `openai` client,
prometheus-client); importing this package without it raises `MissingDependencyError` naming the
extra. See docs/serving.md.
"""

from ir3de_serve import _deps  # noqa: F401  (first: a missing dependency names the extra)
from ir3de_serve.app import create_app
from ir3de_serve.config import (
    ConfigError,
    ExpertConfig,
    FeedbackConfig,
    GatewayConfig,
    RouterConfig,
    ServerConfig,
    StickyConfig,
    load_config,
    parse_config,
)
from ir3de_serve.gateway import Gateway
from ir3de_serve.replicas import feedback_statistics, merge_replicas
from ir3de_serve.server import serve
from ir3de_serve.storage import save_atomically

__all__ = [
    "ConfigError",
    "ExpertConfig",
    "FeedbackConfig",
    "Gateway",
    "GatewayConfig",
    "RouterConfig",
    "ServerConfig",
    "StickyConfig",
    "create_app",
    "feedback_statistics",
    "load_config",
    "merge_replicas",
    "parse_config",
    "save_atomically",
    "serve",
]
