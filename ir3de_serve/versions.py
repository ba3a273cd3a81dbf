"""Named router versions: every promotion keeps the router it replaces and the one it installs.

Layout, beside the router folder (``[router] path``, which stays the router in force, so reloads,
saves and replicas read it as before)::

    models/prod.versions/
        20261207T070102Z-1a2b3c4d/   a complete router folder (router.json, arrays.npz)
        CURRENT                      {"name": ..., "previous": [...]}: the pointer, os.replace'd
        history.jsonl                one line per promote / rollback / keep

A switch loads the version as untrusted data (`ModelFileError` on a bad file), refuses one that
cannot route (`check_routes`) or has other experts, *then* writes it into the router folder
atomically (`save_atomically`) and moves the pointer: a reader sees the old router or the new.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ir3de_core.exceptions import IR3DEError
from ir3de_core.persistence.router_file import MANIFEST
from ir3de_core.router import IR3DERouter
from ir3de_serve.storage import check_routes, save_atomically

__all__ = ["VersionError", "VersionInfo", "VersionStore", "versions_folder"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_POINTER, _HISTORY = "CURRENT", "history.jsonl"
Loader = Callable[[Path], IR3DERouter]


class VersionError(IR3DEError, ValueError):
    """A version that does not exist, a bad name, or nothing to roll back to."""


@dataclass(frozen=True)
class VersionInfo:
    """One kept version: its name, when it was kept (UNIX seconds), whether it is in force."""

    name: str
    created: float
    current: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created": self.created, "current": self.current}


def versions_folder(router_path: Path) -> Path:
    """The default versions folder of a router folder: ``<path>.versions`` beside it."""
    return router_path.with_name(router_path.name + ".versions")


def _default_loader(path: Path) -> IR3DERouter:
    return IR3DERouter.load(path)


class VersionStore:
    """The kept versions of the router in `router_path`, and the switch between them.

    Args:
        router_path: the router folder in force (``[router] path``).
        folder: where versions are kept (default ``<router_path>.versions``).
        load: loads a version as untrusted data and checks it (experts, signature); the
            store adds the routing probe. Default: `IR3DERouter.load`.
        signing_key: signs the routers written (versions and the router folder).
    """

    def __init__(
        self,
        router_path: Path,
        folder: Path | None = None,
        *,
        load: Loader | None = None,
        signing_key: bytes | None = None,
    ) -> None:
        self.router_path = router_path
        self.folder = folder or versions_folder(router_path)
        self._load = load or _default_loader
        self.signing_key = signing_key

    # ------------------------------------------------------------------ reading
    def current(self) -> str | None:
        """The name of the version in force (None: no version switched in yet)."""
        return self._pointer().get("name")

    def kept(self) -> list[VersionInfo]:
        """The kept versions, oldest first."""
        if not self.folder.is_dir():
            return []
        current = self.current()
        found = [
            VersionInfo(p.name, (p / MANIFEST).stat().st_mtime, p.name == current)
            for p in self.folder.iterdir()
            if p.is_dir() and _NAME.match(p.name) and (p / MANIFEST).is_file()
        ]
        return sorted(found, key=lambda v: (v.created, v.name))

    def history(self) -> list[dict[str, Any]]:
        """The promote / rollback / keep lines, oldest first."""
        path = self.folder / _HISTORY
        if not path.exists():
            return []
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]

    def load(self, name: str) -> IR3DERouter:
        """Load version `name` and check that it routes.

        Raises:
            VersionError: no such version. ModelFileError: its files are not a valid router.
            ValueError: it loads but cannot route.
        """
        path = self._path(name)
        if not (path / MANIFEST).is_file():
            known = [v.name for v in self.kept()]
            msg = f"no router version {name!r} in {self.folder}; kept: {known}"
            raise VersionError(msg)
        router = self._load(path)
        check_routes(router)
        return router

    # ------------------------------------------------------------------ writing
    def keep(self, router: IR3DERouter, name: str | None = None, *, note: str = "") -> str:
        """Save `router` as a new version (not switched in); returns its name.

        Raises:
            VersionError: `name` is invalid or taken.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keep.", dir=self.folder))
        try:
            router.save(tmp, signing_key=self.signing_key)
            digest = hashlib.sha256((tmp / MANIFEST).read_bytes()).hexdigest()[:8]
            name = name or time.strftime("%Y%m%dT%H%M%SZ-", time.gmtime()) + digest
            final = self._path(name)
            if final.exists():
                msg = f"a router version named {name!r} exists already; give another name"
                raise VersionError(msg)
            tmp.chmod(0o755)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._log("keep", name, note=note)
        return name

    def switch(
        self,
        name: str,
        *,
        action: str = "promote",
        install: Callable[[IR3DERouter], None] | None = None,
        note: str = "",
        pop: bool = False,
        outgoing: IR3DERouter | None = None,
    ) -> tuple[IR3DERouter, str | None]:
        """Put version `name` in force: load and check it, write it into the router folder
        atomically, move the pointer (the version in force before goes on the rollback stack
        unless `pop`). `install` publishes it instead of `save_atomically` (the gateway's slot).
        `outgoing`, the router in force now, is kept as a version first (once `name` has loaded).

        Returns:
            the router now in force, and the version it replaced (None: none was named).

        Raises:
            VersionError, ModelFileError, ValueError: see `load`; nothing is switched then.
        """
        router = self.load(name)
        pointer = self._pointer()
        previous = list(pointer.get("previous", []))
        before = pointer.get("name")
        if outgoing is not None:
            before = self.keep(outgoing, note=f"in force before {name}")
        if pop:
            previous = previous[:-1]
        elif before is not None and before != name:
            previous.append(before)
        if install is not None:
            install(router)
        else:
            save_atomically(router, self.router_path, signing_key=self.signing_key)
        self._write_pointer({"name": name, "previous": previous})
        self._log(action, name, before=before, note=note)
        return router, before

    def rollback(
        self, *, install: Callable[[IR3DERouter], None] | None = None, note: str = ""
    ) -> tuple[str, IR3DERouter]:
        """Put back the version in force before the current one.

        Raises:
            VersionError: nothing to roll back to.
        """
        previous = self._pointer().get("previous", [])
        if not previous:
            msg = f"nothing to roll back to: no version was in force before {self.current()!r}"
            raise VersionError(msg)
        name = str(previous[-1])
        router, _ = self.switch(name, action="rollback", install=install, note=note, pop=True)
        return name, router

    # ------------------------------------------------------------------ internals
    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name):
            msg = (
                f"a router version name is 1-100 letters, digits, '.', '_' or '-' (not first), "
                f"got {name!r}"
            )
            raise VersionError(msg)
        return self.folder / name

    def _pointer(self) -> dict[str, Any]:
        path = self.folder / _POINTER
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            msg = f"cannot read the version pointer {path}: {e}; delete it to start again"
            raise VersionError(msg) from e
        if not isinstance(body, dict) or not isinstance(body.get("previous", []), list):
            msg = f"{path} is not a version pointer; delete it to start again"
            raise VersionError(msg)
        return body

    def _write_pointer(self, body: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{_POINTER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, self.folder / _POINTER)

    def _log(self, action: str, name: str, **more: Any) -> None:
        line = {"time": round(time.time(), 3), "action": action, "name": name, **more}
        with (self.folder / _HISTORY).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
