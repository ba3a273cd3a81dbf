"""Scale-out benchmark (issue 7): statistics throughput on Dask and streaming, streaming memory.

Builds ≥ 200k synthetic prompts from the shared RouterDC and RouterBench data (each real prompt
repeated with a variant tag, its domain and scores kept), writes them as JSONL to a temporary
directory, then measures:

* statistics throughput (prompts/s) on a loopback ``LocalCluster`` of 1 and of 2 one-thread
  worker processes (cluster start and featurizer loading excluded: a warm-up fit runs first);
* the streaming single-process path (``fit_stream``, the path of ``ir3de fit``) in a subprocess;
* the peak RSS (``ru_maxrss``) of that subprocess on the full file and on a quarter of it.

Every worker and the streaming subprocess run one thread (``TOKENIZERS_PARALLELISM=false``,
BLAS threads 1), so "2 workers" means two cores. Run::

    .venv/bin/python -m benchmarks.scale --prompts 200000 --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from ir3de_cli.report import format_table
from ir3de_core.data import load_routerbench, load_routerdc
from ir3de_core.router import IR3DERouter

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {
    "TOKENIZERS_PARALLELISM": "false",
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
TARGET_SPEEDUP, TARGET_MEMORY = 1.6, 1.2


def shared_records(shared: Path) -> list[dict[str, Any]]:
    """Every record of the shared data as canonical JSON objects."""
    if not (shared / "routerdc").is_dir():
        sys.exit(f"shared data not found at {shared}; pass --shared-data")
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted((shared / "routerdc").glob("*.json")):
            records.extend(load_routerdc(path))
        for path in sorted((shared / "routerbench").glob("*.csv")):
            records.extend(load_routerbench(path))
    return [r.to_dict() for r in records]


def write_corpus(base: list[dict[str, Any]], n: int, path: Path) -> Path:
    """`n` prompts cycling through `base`, each tagged with its copy number."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            item = base[i % len(base)]
            copy = i // len(base)
            record = {**item, "prompt": f"{item['prompt']}\n[variant {copy}]"}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def head(path: Path, n: int, out: Path) -> Path:
    """The first `n` lines of `path`, written to `out`."""
    with path.open("rb") as src, out.open("wb") as dst:
        for i, line in enumerate(src):
            if i == n:
                break
            dst.write(line)
    return out


def dask_throughput(path: Path, n: int, workers: int, featurizer: str, blocksize: str) -> dict:
    """Prompts/s of the Dask statistics pass on a fresh loopback cluster of `workers`."""
    import distributed

    from ir3de_core.scale import distributed as dist

    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", env=ONE_THREAD, silence_logs=40,
    )  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        warm = head(path, 2000, path.with_suffix(".warm.jsonl"))
        for _ in range(2):  # every worker loads the tokenizer and table before timing
            dist.fit_part(IR3DERouter(featurizer), str(warm), client=client,
                          blocksize=warm.stat().st_size // (2 * workers) + 1, progress=False)  # fmt: skip
        bag = dist.read_records(str(path), blocksize=blocksize)
        cpu = client.run(time.process_time)
        start = time.perf_counter()
        _, part = dist.fit_part(IR3DERouter(featurizer), bag, client=client, progress=False)
        seconds = time.perf_counter() - start
        cpu = {w: t - cpu[w] for w, t in client.run(time.process_time).items()}
    assert part.n_records == n, (part.n_records, n)
    return {"seconds": seconds, "prompts_per_s": n / seconds, "partitions": bag.npartitions,
            "worker_cpu_s": sorted(cpu.values())}  # fmt: skip


def stream_child(path: Path, featurizer: str, chunk_size: int) -> None:
    """In a subprocess: stream-fit `path`, print seconds, prompts and peak RSS as JSON."""
    from ir3de_core.scale.training import fit_stream

    start = time.perf_counter()
    result = fit_stream(IR3DERouter(featurizer), [path], chunk_size=chunk_size, progress=False)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    n = result.n_records
    print(json.dumps({"seconds": seconds, "prompts": n, "prompts_per_s": n / seconds,
                      "peak_rss_mib": peak_mib, "file_mib": path.stat().st_size / 2**20}))  # fmt: skip


def run_stream(path: Path, featurizer: str, chunk_size: int) -> dict:
    """Run `stream_child` in a fresh one-thread interpreter and return its measurements."""
    command = [sys.executable, __file__, "--child-stream", str(path),
               "--featurizer", featurizer, "--chunk-size", str(chunk_size)]  # fmt: skip
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """All measurements, in a dict ready for JSON."""
    base = shared_records(args.shared_data)
    full = write_corpus(base, args.prompts, directory / "prompts.jsonl")
    quarter = head(full, args.prompts // 4, directory / "quarter.jsonl")
    results: dict[str, Any] = {"prompts": args.prompts, "featurizer": args.featurizer,
                               "distinct_source_prompts": len(base), "cpus": os.cpu_count(),
                               "load_average_at_start": os.getloadavg()}  # fmt: skip
    for workers in (1, 2):
        results[f"dask_{workers}"] = dask_throughput(
            full, args.prompts, workers, args.featurizer, args.blocksize
        )
        print(f"dask {workers} worker(s): {results[f'dask_{workers}']}", flush=True)
    results["stream_full"] = run_stream(full, args.featurizer, args.chunk_size)
    results["stream_quarter"] = run_stream(quarter, args.featurizer, args.chunk_size)
    results["load_average_at_end"] = os.getloadavg()
    results["speedup_2_vs_1"] = (
        results["dask_2"]["prompts_per_s"] / results["dask_1"]["prompts_per_s"]
    )
    busiest_1 = max(results["dask_1"]["worker_cpu_s"])
    results["cpu_bound_speedup_2_vs_1"] = busiest_1 / max(results["dask_2"]["worker_cpu_s"])
    results["memory_ratio"] = (
        results["stream_full"]["peak_rss_mib"] / results["stream_quarter"]["peak_rss_mib"]
    )
    return results


def report(results: dict[str, Any]) -> str:
    """The results as a table plus the two targets."""
    rows = [
        ["Dask, 1 worker", results["prompts"], results["dask_1"]["seconds"],
         results["dask_1"]["prompts_per_s"], _cpu(results["dask_1"]), None],
        ["Dask, 2 workers", results["prompts"], results["dask_2"]["seconds"],
         results["dask_2"]["prompts_per_s"], _cpu(results["dask_2"]), None],
    ]  # fmt: skip
    for key in ("stream_quarter", "stream_full"):
        run = results[key]
        rows.append([f"streaming, 1 process ({run['file_mib']:.0f} MiB file)", run["prompts"],
                     run["seconds"], run["prompts_per_s"], None, run["peak_rss_mib"]])  # fmt: skip
    headers = ["path", "prompts", "seconds", "prompts/s", "worker CPU s", "peak RSS MiB"]
    table = format_table(headers, rows, digits=1)
    speedup, memory = results["speedup_2_vs_1"], results["memory_ratio"]
    cpu_bound = results["cpu_bound_speedup_2_vs_1"]
    return (
        f"{table}\n\n2 workers / 1 worker: {speedup:.2f}x wall clock (target ≥ {TARGET_SPEEDUP}x: "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'missed'}); {cpu_bound:.2f}x from worker CPU "
        "time (busiest worker), i.e. with a free core per worker\n"
        f"streaming peak RSS, 4x the file: {memory:.3f}x (target ≤ {TARGET_MEMORY}x: "
        f"{'met' if memory <= TARGET_MEMORY else 'missed'})\n"
        f"load average (1, 5, 15 min) at start {results['load_average_at_start']}, "
        f"at end {results['load_average_at_end']} on {results['cpus']} CPUs"
    )


def _cpu(run: dict[str, Any]) -> str:
    return " + ".join(f"{t:.0f}" for t in run["worker_cpu_s"])


def main() -> None:
    """Parse options, measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=200_000)
    parser.add_argument("--featurizer", default="tokens", choices=["tokens", "hashing"])
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--blocksize", default="4MiB", help="JSONL bytes per Dask partition")
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child-stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_stream is not None:
        stream_child(args.child_stream, args.featurizer, args.chunk_size)
        return
    with tempfile.TemporaryDirectory(prefix="ir3de-scale-") as tmp:
        results = measure(args, Path(tmp))
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
