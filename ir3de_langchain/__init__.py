"""ir3de_langchain: the IR3DE router as LangChain runnables, a routed chat model, a decision model
and agent middleware."""

from ir3de_core.decide.fallback import ExpertsFailedError
from ir3de_langchain._decision import IR3DE_KEY, ROUTE_EVENT, SWITCH_CONFIDENCE
from ir3de_langchain._timeout import ExpertTimeoutError
from ir3de_langchain.chat_models import ChatIR3DE
from ir3de_langchain.decisions import IR3DEDecisionModel
from ir3de_langchain.middleware import IR3DEModelMiddleware, IR3DEToolMiddleware
from ir3de_langchain.runnables import IR3DEDecider, IR3DERunnable
from ir3de_langchain.training import router_from_descriptions, tool_descriptions, tool_router

__all__ = [
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
