"""``ir3de versions``: the named versions kept beside a router folder; promote one, roll back.

The folder (``[router] path`` of a gateway) stays the router in force; a gateway that reloads
(``reload_seconds``) picks a switch up. Versions live in ``<router>.versions`` (docs/learning.md).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ir3de_cli.report import format_table

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``versions`` command to `ir3de`."""
    p = subparsers.add_parser(
        "versions", help="list, keep, promote or roll back named router versions"
    )
    actions = p.add_subparsers(dest="action", required=True)
    for name, helps in (
        ("list", "list the kept versions (* = in force)"),
        ("keep", "keep a router folder as a named version (not switched in)"),
        ("promote", "put a kept version in force (the router in force is kept first)"),
        ("rollback", "put back the version in force before the current one"),
    ):
        a = actions.add_parser(name, help=helps)
        a.add_argument("--router", required=True, help="the router folder in force")
        a.add_argument("--versions", help="the versions folder (default: <router>.versions)")
        a.add_argument(
            "--signing-key-env", help="the variable holding the HMAC key routers are signed with"
        )
        if name == "keep":
            a.add_argument("--from", dest="source", required=True, help="the router to keep")
            a.add_argument("--name", help="the version's name (default: timestamp-hash)")
        if name == "promote":
            a.add_argument("name", help="the version to put in force")
        a.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Carry out one ``ir3de versions`` action."""
    from ir3de_core.router import IR3DERouter
    from ir3de_serve.versions import VersionStore  # the serve extra

    key = os.environ[args.signing_key_env].encode() if args.signing_key_env else None

    def load(path: Path) -> IR3DERouter:
        return IR3DERouter.load(path, signing_key=key)

    router_path = Path(args.router)
    store = VersionStore(
        router_path, Path(args.versions) if args.versions else None, load=load, signing_key=key
    )
    if args.action == "list":
        rows = [
            [
                "*" if v.current else "",
                v.name,
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v.created)),
            ]
            for v in store.kept()
        ]
        print(format_table(["", "version", "kept (UTC)"], rows) if rows else "no versions kept")
    elif args.action == "keep":
        print(store.keep(load(Path(args.source)), args.name, note="ir3de versions keep"))
    elif args.action == "promote":
        store.load(args.name)  # refused before the router in force is kept
        _, outgoing = store.switch(
            args.name, outgoing=load(router_path), note="ir3de versions promote"
        )
        print(f"{args.name} is in force (the router before it is kept as {outgoing})")
    else:
        name, _ = store.rollback(note="ir3de versions rollback")
        print(f"{name} is in force again")
    return 0
