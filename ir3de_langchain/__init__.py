"""ir3de_langchain: the IR3DE router as LangChain runnables, a routed chat model and agent middleware."""

from ir3de_langchain.runnables import IR3DEDecider, IR3DERunnable

__all__ = ["IR3DEDecider", "IR3DERunnable"]
