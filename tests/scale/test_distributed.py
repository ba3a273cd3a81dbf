"""Dask: a 2-process LocalCluster on loopback gives the single-machine router, even when a worker dies."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ir3de_core.router import IR3DERouter
from tests.scale.data import (
    assert_same_router,
    clear_worker_cache,
    reference_fit,
    slow_partition,
    worker_cache_size,
    write_records,
)

distributed = pytest.importorskip(
    "distributed", reason="needs the dask extra: pip install 'ir3de[dask]'"
)
db = pytest.importorskip("dask.bag")
dist = pytest.importorskip("ir3de_core.scale.distributed")

HASH = {"kind": "hashing", "n_features": 128}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", silence_logs=40,
    )  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("data") / "records.jsonl", copies=2)


@pytest.fixture(scope="module")
def lines(records_file: Path) -> list[str]:
    return records_file.read_text().splitlines()


@pytest.mark.parametrize(("featurizer", "target"), [("tokens", "domain"), (HASH, "quality")])
def test_fit_from_jsonl_equals_single_machine(
    client: Any, records_file: Path, lines: list[str], featurizer: Any, target: str
) -> None:
    want = reference_fit(IR3DERouter(featurizer, target=target, missing_scores="ignore"), lines)
    router = IR3DERouter(featurizer, target=target, missing_scores="ignore")
    bag = dist.read_records(str(records_file), blocksize=8_000)
    assert bag.npartitions >= 4
    got = dist.fit(router, bag, client=client, split_every=2, progress=False)
    assert got is router
    assert_same_router(got, want)


def test_tfidf_first_pass_equals_fitted_idf(
    client: Any, records_file: Path, lines: list[str]
) -> None:
    want = reference_fit(IR3DERouter(HASH), lines)
    got = dist.fit(
        IR3DERouter(HASH), str(records_file), client=client, blocksize=8_000, progress=False
    )
    np.testing.assert_array_equal(
        got.featurizer_.state_arrays()["idf"], want.featurizer_.state_arrays()["idf"]
    )
    assert_same_router(got, want)


def test_fit_from_dataframe_with_score_columns(client: Any, lines: list[str]) -> None:
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True)  # a str is a path now
    scores = pd.json_normalize(frame.pop("scores").tolist())
    frame = pd.concat([frame, scores], axis=1)
    experts = list(scores.columns)
    ddf = dd.from_pandas(frame, npartitions=3)
    want = reference_fit(IR3DERouter(HASH, target="quality", missing_scores="ignore"), lines)
    router = IR3DERouter(HASH, target="quality", missing_scores="ignore")
    got = dist.fit(router, ddf, client=client, score_columns=experts, progress=False)
    assert set(got.experts_) == set(want.experts_)
    assert_same_router(
        got, want.fit(list(frame["prompt"]), frame[list(got.experts_)])
    )  # column order


def test_partial_fit_equals_fit_on_all(client: Any, lines: list[str]) -> None:
    half = len(lines) // 2
    want = reference_fit(IR3DERouter(HASH), lines[:half])
    want.partial_fit([json_prompt(x) for x in lines[half:]], [json_domain(x) for x in lines[half:]])
    router = dist.fit(
        IR3DERouter(HASH),
        db.from_sequence(lines[:half], npartitions=3),
        client=client,
        progress=False,
    )
    got = dist.partial_fit(
        router, db.from_sequence(lines[half:], npartitions=3), client=client, progress=False
    )
    assert_same_router(got, want)


def json_prompt(line: str) -> str:
    import json

    return str(json.loads(line)["prompt"])


def json_domain(line: str) -> str:
    import json

    return str(json.loads(line)["domain"])


def _run_in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = target()
        except BaseException as e:  # reported to the test thread
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _kill_a_busy_worker(client: Any, timeout: float = 60.0) -> None:
    """SIGKILL the process of a worker that is running a task (its nanny restarts it)."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if any("part" in str(k) for k in keys)]
        if busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            return
        time.sleep(0.05)
    pytest.fail("no worker ever ran a partition")


def _slow_bag(lines: list[str]) -> Any:
    return db.from_sequence(lines, npartitions=6).map_partitions(partial(slow_partition, delay=0.5))


def test_worker_killed_mid_run_still_gives_the_same_router(client: Any, lines: list[str]) -> None:
    want = reference_fit(IR3DERouter("tokens"), lines)
    thread, outcome = _run_in_thread(
        lambda: dist.fit(IR3DERouter("tokens"), _slow_bag(lines), client=client, progress=False)
    )
    _kill_a_busy_worker(client)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert_same_router(outcome["value"], want)
    client.wait_for_workers(2, timeout=60)


def test_repeated_worker_deaths_fail_with_a_clear_error(client: Any, lines: list[str]) -> None:
    def set_allowed_failures(n: int) -> None:
        client.run_on_scheduler(
            lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", n)
        )

    client.wait_for_workers(2, timeout=60)
    set_allowed_failures(0)
    try:
        router = IR3DERouter("tokens")
        thread, outcome = _run_in_thread(
            lambda: dist.fit(router, _slow_bag(lines), client=client, progress=False)
        )
        _kill_a_busy_worker(client)
        thread.join(timeout=120)
    finally:
        set_allowed_failures(3)
    assert isinstance(outcome.get("error"), dist.DistributedFitError), outcome
    assert "no partial statistics were used" in str(outcome["error"])
    assert not hasattr(router, "statistics_")
    client.wait_for_workers(2, timeout=60)


def test_featurizer_is_built_once_per_worker(client: Any, records_file: Path) -> None:
    client.run(clear_worker_cache)
    bag = dist.read_records(str(records_file), blocksize=6_000)
    assert bag.npartitions >= 6
    dist.fit(IR3DERouter("tokens"), bag, client=client, progress=False)
    assert set(client.run(worker_cache_size).values()) == {1}


def test_cli_fit_on_a_dask_scheduler(
    client: Any, records_file: Path, lines: list[str], tmp_path: Path
) -> None:
    from ir3de_cli.main import main

    code = main(["-q", "fit", "--data", str(records_file), "--dask-scheduler", client.scheduler.address,
                 "--blocksize", "8000", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 0
    assert_same_router(
        IR3DERouter.load(tmp_path / "r"),
        reference_fit(IR3DERouter("tokens", missing_scores="ignore"), lines),
    )


def test_cli_refuses_checkpoint_with_dask(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ir3de_cli.main import main

    code = main(["-q", "fit", "--data", str(records_file), "--dask-local", "1",
                 "--checkpoint", str(tmp_path), "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2
    assert "--checkpoint is for the single-machine fit" in capsys.readouterr().err


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("dask.bag", "distributed"):  # a None entry makes `import name` fail
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'ir3de\[dask\]'"):
        dist.read_records("x.jsonl")


def test_a_bom_file_fits_like_the_loaders_read_it(
    client: Any, records_file: Path, lines: list[str], tmp_path: Path
) -> None:
    """The one BOM rule holds on Dask too: a leading UTF-8 BOM is skipped, not a JSON error."""
    with_bom = tmp_path / "bom.jsonl"
    with_bom.write_bytes(b"\xef\xbb\xbf" + records_file.read_bytes())
    want = reference_fit(IR3DERouter(HASH, missing_scores="ignore"), lines)
    bag = dist.read_records(str(with_bom), blocksize=8_000)
    got = dist.fit(IR3DERouter(HASH, missing_scores="ignore"), bag, client=client, progress=False)
    assert_same_router(got, want)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"JSON line of the Dask input.*not valid JSON"):
        dist.fit(IR3DERouter(HASH), dist.read_records(str(broken)), client=client, progress=False)
