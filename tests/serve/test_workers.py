"""``[server] workers = 2``: one gateway, two uvicorn worker processes, one shared feedback log.

Feedback may reach the worker that did not answer the completion (the pending completions are
shared through SQLite), and each worker folds every event of the log: at shutdown both workers'
saved routers hold the base router plus every acknowledged event, bit for bit the same as the
base folding the log in order in this process.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ir3de_core import IR3DERouter
from tests.serve.conftest import fit_router
from tests.serve.replica_procs import Replica
from tests.serve.test_shared_log import (
    PROMPTS,
    assert_identical,
    open_log,
    reference,
    replica_config,
    send_event,
)


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    return fit_router().save(tmp_path / "router")


def test_two_workers_fold_every_acknowledged_event(
    base_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    log_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    state = tmp_path / "state"
    config = replica_config(base_dir, urls, log_url, state, save_every_events=5)
    config["server"] = {**config.get("server", {}), "workers": 2}
    gateway = Replica(config, tmp_path / "gateway").start(timeout=120)
    try:
        acked = [send_event(gateway, PROMPTS[i % len(PROMPTS)], (i % 10) / 10) for i in range(30)]
        log = open_log(log_url)
        head = log.head()
        log.close()
        time.sleep(2.0)  # both workers poll the log every 0.05 s
    finally:
        gateway.stop()
    assert None not in acked and len(set(acked)) == 30  # every event acknowledged, once
    assert head == 30
    expected, ids = reference(base_dir, log_url)
    assert sorted(ids) == sorted(a for a in acked if a is not None)
    base_rows = int(IR3DERouter.load(base_dir).statistics_.n_rows.sum())
    saved = [state.with_name(f"{state.name}.worker-{slot}") for slot in (0, 1)]
    assert all(path.exists() for path in saved), gateway.stderr()
    for path in saved:
        statistics = IR3DERouter.load(path).statistics_
        assert int(statistics.n_rows.sum()) == base_rows + 30
        assert_identical(statistics, expected)
