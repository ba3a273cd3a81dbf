"""The gateway keeps what startup built out of the cyclic collector's reach while it serves, so
a full collection does not pause every request in flight scanning imports and the router."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx

from tests.serve.conftest import config_data, gateway


def test_startup_objects_are_frozen_while_serving_and_released_after(
    router_dir: Path, upstreams
) -> None:
    _, urls = upstreams
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with gateway(config_data(router_dir, urls)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the imports, the router and the app at least
        before = len(gc.get_objects(generation=2))
        gc.collect()
        assert len(gc.get_objects(generation=2)) < frozen  # a full collection scans far fewer
        assert before < frozen
    assert gc.get_freeze_count() == 0  # the process is left as it was
