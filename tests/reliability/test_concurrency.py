"""Routing is safe while the router learns: readers see one consistent state (8 threads route
while another adds and removes experts and folds in feedback; the async adapters likewise)."""

from __future__ import annotations

import threading
import time

import numpy as np

from ir3de_core import IR3DERouter

HASH = {"kind": "hashing", "n_features": 128}


def test_routing_is_safe_while_another_thread_updates(prompts, domains, quality_scores) -> None:
    """8 threads route while one adds and removes experts and folds in feedback."""
    router = IR3DERouter(HASH, target="quality").fit(prompts, quality_scores)
    new_scores = [0.5 + 0.01 * (i % 9) for i in range(30)]
    stop, errors, checked = threading.Event(), [], [0]

    def read() -> None:
        while not stop.is_set():
            try:
                for decision in router.route(prompts[:16]):
                    assert decision.expert in decision.scores
                    assert np.isfinite(decision.confidence)
                router.predict(prompts[16:24])
                checked[0] += 1
            except Exception as e:  # any exception is the failure this test looks for
                errors.append(e)
                return

    def write() -> None:
        while not stop.is_set():
            router.add_expert("x", prompts[:30], new_scores)
            router.partial_fit([prompts[3]], [{"m": 0.7}])
            router.remove_expert("x")
            router.partial_fit(prompts[:2], quality_scores[:2])

    threads = [threading.Thread(target=read) for _ in range(8)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert checked[0] > 8


def test_async_adapters_route_safely_while_the_router_learns(prompts, quality_scores) -> None:
    """LangChain's async path (many concurrent ainvoke calls) while a thread updates."""
    import asyncio

    from langchain_core.runnables import RunnableLambda

    from ir3de_langchain import IR3DERunnable

    router = IR3DERouter(HASH, target="quality").fit(prompts, quality_scores)
    experts = {e: RunnableLambda(lambda x, e=e: e) for e in router.experts_}
    chain = IR3DERunnable(router=router, experts=experts, return_decision=True)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            router.add_expert("x", prompts[:30], [0.5] * 30)
            router.partial_fit([prompts[3]], [{"m": 0.7}])
            router.remove_expert("x")

    async def read() -> list[dict]:
        results: list[dict] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            batch = await asyncio.gather(*(chain.ainvoke(p) for p in prompts[:32]))
            results.extend(batch)
        return results

    writer = threading.Thread(target=write)
    writer.start()
    try:
        results = asyncio.run(read())
    finally:
        stop.set()
        writer.join()
    assert len(results) > 32
    for result in results:
        assert result["output"] == result["decision"].expert
        assert result["decision"].expert in result["decision"].scores
