"""`ir3de`: fit, route, evaluate, calibrate the policy, manage experts, demo, serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from ir3de_cli import calibrate, commands, off_policy, versions
from ir3de_cli.paths import describe
from ir3de_core._version import __version__
from ir3de_core.exceptions import IR3DEError

__all__ = ["build_parser", "main"]


def _data_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--data", nargs="+", required=required, help="files or directories of records"
    )
    parser.add_argument(
        "--format", default="auto", choices=["auto", "jsonl", "routerdc", "routerbench"]
    )
    parser.add_argument("--split", help="in directories, read only files named *_<split>.*")


def _alpha(text: str) -> float | str:
    """``--alpha``: a number, or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"expected a number or 'auto', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _add_fit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a router on labelled prompts and save it")
    _data_options(p)
    p.add_argument("--target", default="domain", choices=["domain", "quality"])
    p.add_argument(
        "--featurizer", default="tokens", choices=["hashing", "tokens", "sentence", "openai"]
    )
    p.add_argument(
        "--aggregation",
        default="auto",
        choices=["auto", "vote", "average", "pooled"],
        help="how token scores make a decision (default: chosen by cross-validation)",
    )
    p.add_argument("--entropy-top-k", type=int, default=None)
    p.add_argument(
        "--alpha",
        type=_alpha,
        default="auto",
        help="ridge penalty, or 'auto' (default): chosen by cross-validation",
    )
    p.add_argument("--cv", type=int, default=5, help="folds of the cross-validation")
    p.add_argument(
        "--no-safe-default",
        dest="safe_default",
        action="store_false",
        help="do not send unsure prompts to the best single expert",
    )
    p.add_argument(
        "--max-tokens", type=int, default=None, help="truncate prompts to this many tokens"
    )
    p.add_argument("--truncation", choices=["head", "tail", "head+tail"], default=None)
    p.add_argument("--model-name", help="featurizer model (a local directory, or the OpenAI model)")
    p.add_argument("--base-url", help="OpenAI-compatible base URL for --featurizer openai")
    p.add_argument("--out", required=True, help="directory to save the router in")
    _fit_scale_options(p)
    p.set_defaults(run=commands.fit)


def _positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1 (argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be an integer ≥ 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _fit_scale_options(p: argparse.ArgumentParser) -> None:
    """Streaming, checkpoint and Dask options of `fit`."""
    p.add_argument(
        "--chunk-size", type=_positive_int, default=4096, help="prompts featurized at once"
    )
    p.add_argument(
        "--checkpoint", help="directory to checkpoint the sums in; rerun with it to resume"
    )
    p.add_argument(
        "--checkpoint-every", type=_positive_int, default=16, help="chunks between checkpoints"
    )
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask-scheduler", metavar="ADDRESS", help="fit on this Dask scheduler")
    dask.add_argument(
        "--dask-local",
        type=_positive_int,
        metavar="N",
        help="fit on a local Dask cluster of N workers",
    )
    p.add_argument("--blocksize", default="64MiB", help="with Dask: bytes of JSONL per partition")


def _add_route(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "route", help="route prompts by the saved policy; prints one JSON decision per line"
    )
    p.add_argument("--model", required=True, help="directory of a saved router")
    p.add_argument("prompts", nargs="*", help="prompts to route")
    p.add_argument(
        "--input", help="file with one prompt per line, or JSONL with 'prompt' ('-': stdin)"
    )
    p.add_argument("--explain", action="store_true", help="add the top contributing tokens")
    p.set_defaults(run=commands.route)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="per-task accuracy on labelled data, or value off-policy on a log"
    )
    p.add_argument("--model", required=True, help="directory of a saved router")
    _data_options(p, required=False)
    off_policy.add_log_options(p)
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(run=commands.evaluate)


def _add_experts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experts", help="list, add or remove experts of a saved router")
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list experts (and domains)")
    listing.add_argument("--model", required=True)
    listing.set_defaults(run=commands.experts_list)
    add = actions.add_parser("add", help="add an expert (quality) or a domain (domain mode)")
    add.add_argument("--model", required=True)
    add.add_argument("--name", required=True, help="the new expert or domain")
    _data_options(add)
    add.add_argument("--expert", help="domain mode: the expert the new domain routes to")
    add.add_argument("--out", help="save here instead of overwriting --model")
    add.set_defaults(run=commands.experts_add)
    remove = actions.add_parser("remove", help="remove an expert or a domain")
    remove.add_argument("--model", required=True)
    remove.add_argument("--name", required=True)
    remove.add_argument("--out", help="save here instead of overwriting --model")
    remove.set_defaults(run=commands.experts_remove)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="fit on the bundled sample prompts and route examples (offline)"
    )
    p.add_argument("--featurizer", default="tokens", choices=["hashing", "tokens", "sentence"])
    p.add_argument("--prompt", action="append", help="route this prompt too (repeatable)")
    p.set_defaults(run=commands.demo)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="an OpenAI-compatible gateway that routes each request (needs 'ir3de[serve]')",
    )
    p.add_argument("--config", required=True, help="the gateway's TOML file (docs/serving.md)")
    p.add_argument("--host", help="bind this interface instead of the config's")
    p.add_argument("--port", type=int, help="listen on this port instead of the config's")
    p.add_argument(
        "--workers", type=int, help="worker processes ([server] workers; >1 needs a shared log)"
    )
    p.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ir3de_serve.server import run_command  # FastAPI and uvicorn are optional

    return run_command(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `ir3de`."""
    parser = argparse.ArgumentParser(prog="ir3de", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ir3de {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or warnings")
    sub = parser.add_subparsers(dest="command", required=True)
    adders = (_add_fit, _add_route, _add_evaluate, calibrate.add_parser, _add_experts, _add_demo)
    for add in (*adders, versions.add_parser, _add_serve):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code.

    Every expected error (ir3de's own, a bad value, a file that cannot be read or written)
    becomes one line ``ir3de <command>: error: ...`` on stderr and exit status 2, like a usage
    error; an interrupt exits with 130, a closed output pipe (``| head``) quietly with 141.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.quiet:
        warnings.simplefilter("ignore")
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        print(f"ir3de {args.command}: interrupted", file=sys.stderr)
        return 130
    except (IR3DEError, ValueError, TypeError, OSError, KeyError) as e:
        print(f"ir3de {args.command}: error: {describe(e)}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """After the reader of stdout went away, send what is left to /dev/null (no exit noise)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
