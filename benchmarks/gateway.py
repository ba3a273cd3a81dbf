"""Gateway benchmark (issue 15): what `ir3de serve` adds on loopback, and feedback accounting.

Starts a fast fake OpenAI-compatible upstream (a bare ASGI app under uvicorn, canned answers) and
the real gateway (``ir3de serve --config ...``, one uvicorn worker), each in its own process, and
drives both from this process with bounded load (a fixed number of requests at a fixed
concurrency, httpx over keep-alive connections). Phases, all in the same run:

1. ``direct``: the upstream itself (the baseline);
2. ``gateway``: ``model: "ir3de"`` through the gateway (decide, call, rewrite);
3. ``gateway, stream``: the same, streamed (8 events per answer);
4. ``gateway + feedback``: every ``--feedback-every``-th answer is scored with ``POST
   /v1/feedback`` while the load runs. At the end, the events sent, the events the gateway
   folded (``/healthz``, ``/metrics``) and the rows added to the saved router's statistics
   (after a clean shutdown) must all be equal.

The gateway's added latency is its p50/p99 minus the direct p50/p99; the gateway's CPU time per
request (from /proc, its worker processes included) says what bounds a worker. The fake upstream
answers at once by default (~0.6 ms: the gateway's own cost, and at high concurrency the
saturation of one worker); ``--upstream-ms 50`` makes it wait that long before answering
(``asyncio.sleep``, no CPU), as an LLM would, so "added" is what a client of an LLM sees.
``--workers N`` runs N gateway workers sharing an SQLite ``[feedback] shared_log``. Run from a
clone::

    .venv/bin/python -m benchmarks.gateway --requests 2000 --concurrency 16
    .venv/bin/python -m benchmarks.gateway --requests 2000 --concurrency 16 --upstream-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from benchmarks.gateway_load import _DELAY, _ERRORS, _load, fake_upstream
from ir3de_cli.sample import demo_records
from ir3de_core import IR3DERouter

__all__ = ["Phase", "fake_upstream", "main", "run"]

T = TypeVar("T")


@dataclass
class Phase:
    """One phase's numbers (latencies in milliseconds)."""

    name: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50: float
    p99: float
    cpu_ms: float | None = None  # gateway CPU time per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            msg = f"{process.args!r} exited with {process.returncode} before answering"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live children (the workers of ``--workers N``)."""
    total = 0.0
    for process in _process_tree(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _measure(
    name: str, url: str, prompts: list[str], pid: int | None, **load: Any
) -> tuple[Phase, int]:
    """One phase of load on `url`; the gateway's CPU time is read from /proc around it."""
    cpu = None if pid is None else _cpu_seconds(pid)
    latencies, errors, feedback, wall = asyncio.run(_load(url, prompts, **load))
    p50, p99 = np.percentile(latencies, [50, 99])
    cpu_ms = None if cpu is None or pid is None else (_cpu_seconds(pid) - cpu) * 1000
    phase = Phase(name, load["concurrency"], len(latencies), errors, wall, float(p50), float(p99))
    phase.cpu_ms = None if cpu_ms is None else cpu_ms / len(latencies)
    return phase, feedback


def _write_setup(
    folder: Path,
    upstream: str,
    port: int,
    *,
    explore: str | None = None,
    shared_log: bool = False,
    workers: int = 1,
) -> tuple[Path, IR3DERouter]:
    records = demo_records()
    prompts = [r.prompt for r in records]
    good = {"math": "a", "code": "b", "multilingual": "a", "writing": "b"}
    scores = [{e: 0.9 if good[r.domain or "math"] == e else 0.3 for e in "ab"} for r in records]
    router = IR3DERouter("hashing", target="quality").fit(prompts, scores)
    router.save(folder / "router")
    experts = "".join(
        f'[[experts]]\nname = "{e}"\nbase_url = "{upstream}/v1"\nmodel = "fake"\n\n' for e in "ab"
    )
    config = folder / "gateway.toml"
    config.write_text(
        f"[server]\nport = {port}\naccess_log = false\ncooldown_seconds = 0\n"
        f"workers = {workers}\n\n"
        f'[router]\npath = "router"\nreload_seconds = 2\n\n'
        f'[feedback]\nlog = "feedback.jsonl"\nsave_every_events = 100\nsave_every_seconds = 5\n'
        # one load generator sends every event: loosen the per-key bounds it would hit
        "score_range = [0.0, 1.0]\nkey_share = 100.0\nkey_rate_per_minute = 1e6\n"
        + (
            f'shared_log = "sqlite:///{folder / "shared.db"}"\nsave_to = "{folder / "state"}"\n'
            if shared_log
            else ""
        )
        + (
            f'\n[policy]\nexplore = "{explore}"\nexplore_share = 0.2\nexplore_seed = 0\n'
            if explore
            else ""
        )
        + "\n"
        + experts,
        encoding="utf-8",
    )
    return config, router


def _metric_sum(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def run(
    requests: int = 2000,
    concurrency: int = 16,
    feedback_every: int = 4,
    *,
    explore: str | None = None,
    shared_log: bool = False,
    upstream_ms: float = 0.0,
    workers: int = 1,
    pin: bool = False,
) -> dict[str, Any]:
    """Run every phase; returns the phases and the feedback accounting. `explore` sets the
    gateway's ``[policy] explore`` (on a fifth of the traffic), `shared_log` an SQLite
    ``[feedback] shared_log`` (every event goes through the durable log; always with
    `workers` > 1), `upstream_ms` the fake upstream's wait before each answer; `pin` gives the
    gateway (and its workers) the last CPU(s) and the upstream and the load generator the
    rest, so "added" is the gateway's own cost, not the competition for one core."""
    shared_log = shared_log or workers > 1
    prompts = [r.prompt for r in demo_records()]
    with tempfile.TemporaryDirectory(prefix="ir3de-gateway-bench-") as tmp:
        folder = Path(tmp)
        up_port, gw_port = _free_port(), _free_port()
        upstream_url, gateway_url = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"
        config, router = _write_setup(
            folder, upstream_url, gw_port, explore=explore, shared_log=shared_log,
            workers=workers,
        )  # fmt: skip
        rows = int(router.statistics_.n_rows.sum())
        python = [sys.executable, "-m"]
        clients, servers = _cpu_split(workers) if pin else (None, None)
        if clients is not None:
            os.sched_setaffinity(0, clients)  # this process (the load) and the upstream
        upstream = subprocess.Popen(
            [*python, "benchmarks.gateway", "--serve-upstream", str(up_port),
             "--upstream-ms", str(upstream_ms)]
        )  # fmt: skip
        gateway = subprocess.Popen(
            [*python, "ir3de_cli.main", "-q", "serve", "--config", str(config)]
        )
        try:
            _wait(f"{upstream_url}/v1/models", upstream)
            _wait(f"{gateway_url}/healthz", gateway)
            if servers is not None:
                for pid in _process_tree(gateway.pid):  # uvicorn's workers too
                    os.sched_setaffinity(pid, servers)
            phases, sent, folded = _phases(
                upstream_url, gateway_url, gateway.pid, prompts, requests, concurrency,
                feedback_every, upstream_ms,
            )  # fmt: skip
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(60)
            upstream.send_signal(signal.SIGTERM)
            upstream.wait(30)
        saved_to = folder / (
            "state.worker-0" if workers > 1 else "state" if shared_log else "router"
        )
        saved = int(IR3DERouter.load(saved_to).statistics_.n_rows.sum()) - rows
        logs = (
            folder.glob("feedback.worker-*.jsonl") if workers > 1 else [folder / "feedback.jsonl"]
        )
        logged = sum(len(log.read_text().splitlines()) for log in logs)  # each worker logs its acks
    return {
        "phases": phases,
        "feedback": {"sent": sent, **folded, "saved_rows": saved, "logged": logged},
    }


def _process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (from ``/proc/PID/task/PID/children``)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        children = []
    return [pid] + [p for child in children for p in _process_tree(int(child))]


def _cpu_split(workers: int) -> tuple[set[int], set[int]]:
    """(CPUs for the load and the upstream, CPUs for the gateway): the gateway gets the last
    `workers` CPUs (at most all but one)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        msg = "--pin needs at least 2 CPUs"
        raise SystemExit(msg)
    split = max(1, len(cpus) - workers)
    return set(cpus[:split]), set(cpus[split:])


def _phases(
    upstream: str,
    gateway: str,
    pid: int,
    prompts: list[str],
    requests: int,
    concurrency: int,
    feedback_every: int,
    upstream_ms: float = 0.0,
) -> tuple[list[Phase], int, dict[str, float]]:
    warm = max(50, requests // 20)
    for url in (upstream, gateway):
        asyncio.run(_load(url, prompts, requests=warm, concurrency=concurrency))
    # one request at a time against a slow upstream: ≤ ~10 s per serial phase
    serial_requests = min(requests, 500, max(50, int(10_000 / max(upstream_ms, 1.0))))
    serial = {"requests": serial_requests, "concurrency": 1}
    loaded = {"requests": requests, "concurrency": concurrency}
    runs = [
        ("direct", upstream, None, serial),
        ("gateway", gateway, pid, serial),
        ("direct", upstream, None, loaded),
        ("gateway", gateway, pid, loaded),
        ("gateway, stream", gateway, pid, {**loaded, "stream": True}),
        ("gateway + feedback", gateway, pid, {**loaded, "feedback_every": feedback_every}),
    ]
    phases, sent = [], 0
    for name, url, process, load in runs:
        phase, feedback = _measure(name, url, prompts, process, **load)
        phases.append(phase)
        sent += feedback
    health = _folded(gateway, sent)
    routing = _metric_sum(gateway, "ir3de_routing_seconds_sum")
    folded = {
        "folded": float(health["folded"]),
        "metric": _metric_reaching(gateway, "ir3de_feedback_events_total{", sent),
        "routing_ms": 1000 * routing / _metric_sum(gateway, "ir3de_routing_seconds_count"),
    }
    return phases, sent, folded


def _metric_reaching(gateway: str, name: str, sent: int) -> float:
    """`name`'s sum on ``/metrics`` once the worker answering counts `sent` (each worker folds
    the shared log on its own thread: the one answering ``/healthz`` may be ahead of the one
    answering ``/metrics``), or after a minute."""
    return _polled(lambda: _metric_sum(gateway, name), lambda value: value >= sent)


def _folded(gateway: str, sent: int) -> dict[str, Any]:
    """The feedback counts of ``/healthz`` once the worker answering has folded `sent` events
    (a shared log is folded on its own thread, after the ack), or after a minute."""

    def health() -> dict[str, Any]:
        return dict(httpx.get(f"{gateway}/healthz").json()["feedback"])

    return _polled(health, lambda counts: counts["folded"] >= sent)


def _polled(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 60.0) -> T:
    """`read()` every 0.2 s until `done` says its value is final, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _table(result: dict[str, Any]) -> str:
    phases: list[Phase] = result["phases"]
    direct = {p.concurrency: p for p in phases if p.name == "direct"}
    lines = [
        "| phase | concurrency | requests | errors | req/s | p50 ms | p99 ms | added p50 ms "
        "| added p99 ms | gateway CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        base = direct[p.concurrency]
        added = "| |" if p is base else f"| {p.p50 - base.p50:+.2f} | {p.p99 - base.p99:+.2f} |"
        cpu = "" if p.cpu_ms is None else f"{p.cpu_ms:.2f}"
        lines.append(
            f"| {p.name} | {p.concurrency} | {p.requests} | {p.errors} | {p.rate:.0f} "
            f"| {p.p50:.2f} | {p.p99:.2f} {added} {cpu} |"
        )
    fb = result["feedback"]
    lines += [
        "",
        f"routing (decide) mean: {fb['routing_ms']:.3f} ms → {1000 / fb['routing_ms']:.0f} "
        "decisions/s on one core",
        f"feedback: sent {fb['sent']}, folded {fb['folded']:.0f} (/healthz), "
        f"{fb['metric']:.0f} (/metrics), logged {fb['logged']}, rows added to the saved "
        f"router {fb['saved_rows']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--feedback-every", type=int, default=4, help="score every n-th answer")
    parser.add_argument("--explore", choices=("linucb", "thompson"), help="[policy] explore")
    parser.add_argument("--shared-log", action="store_true", help="an SQLite [feedback] shared_log")
    parser.add_argument(
        "--upstream-ms", type=float, default=0.0,
        help="the fake upstream waits this long before answering (an LLM's latency, no CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway workers (>1: with an SQLite shared log)"
    )
    parser.add_argument(
        "--pin", action="store_true",
        help="the gateway on its own CPU(s), the load generator and upstream on the others",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        import uvicorn

        _DELAY["seconds"] = args.upstream_ms / 1000

        uvicorn.run(fake_upstream, host="127.0.0.1", port=args.serve_upstream,
                    log_level="warning", access_log=False)  # fmt: skip
        return 0
    result = run(
        args.requests, args.concurrency, args.feedback_every, explore=args.explore,
        shared_log=args.shared_log, upstream_ms=args.upstream_ms, workers=args.workers,
        pin=args.pin,
    )  # fmt: skip
    print(_table(result))
    fb = result["feedback"]
    ok = fb["sent"] == fb["folded"] == fb["metric"] == fb["logged"] == fb["saved_rows"]
    ok = ok and not any(p.errors for p in result["phases"])
    print("accounting:", "every event folded, no errors" if ok else "MISMATCH OR ERRORS")
    for error in sorted(set(_ERRORS))[:5]:
        print("  error:", error)
    if args.json:
        out = {"phases": [vars(p) | {"rate": p.rate} for p in result["phases"]], "feedback": fb}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
