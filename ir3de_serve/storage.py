"""The router a gateway routes with: loaded as untrusted data, saved atomically, swapped on change.

A save writes a complete router into a new folder beside the target and swaps it into place, so
a reader sees the old router or the new one, never a mix (and the manifest's SHA-256 of the
arrays would refuse a mix anyway). On Linux the two folders are exchanged in one system call;
when the target is a symbolic link, the link is replaced in one ``rename``; elsewhere two
renames leave a moment with no folder at all, never half of one. The folder is watched by its files' identity
(inode, size, modification time); a new router is loaded beside the running one and swapped in
one assignment, and a broken or half-written one is refused and the running router kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.exceptions import IR3DEError
from ir3de_core.experts import check_experts
from ir3de_core.persistence.router_file import ARRAYS, MANIFEST
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import GatewayConfig
from ir3de_serve.sharedlog.cursor import CURSOR_FILE

__all__ = ["RouterSlot", "check_routes", "folder_signature", "load_checked", "save_atomically"]

logger = logging.getLogger("ir3de.serve")
Signature = tuple[object, ...]
_ROUTER_FILES = frozenset({MANIFEST, ARRAYS, MANIFEST + ".tmp", CURSOR_FILE})


def folder_signature(path: Path) -> Signature | None:
    """What identifies the router in `path` now (None: no router there)."""
    try:
        real = path.resolve()
        files = [(real / name).stat() for name in (MANIFEST, ARRAYS)]
    except OSError:
        return None
    return (str(real), *((s.st_ino, s.st_size, s.st_mtime_ns) for s in files))


_PROBE = "ir3de probe: can this router route?"


def np_errors() -> contextlib.AbstractContextManager[object]:
    """Overflow and invalid operations raise instead of warning (the probe must not pass)."""
    return np.errstate(over="raise", invalid="raise")


def check_routes(router: IR3DERouter) -> None:
    """Route one probe prompt: a router that loads but cannot route (a NaN or overflowing
    weight, say) is refused before it is swapped in.

    Raises:
        ValueError: routing failed or gave non-finite scores or confidence.
    """
    try:
        with np_errors():
            decision = router.route([_PROBE])[0]
    except (ValueError, ArithmeticError, FloatingPointError) as e:
        msg = f"the router loads but cannot route: {e}"
        raise ValueError(msg) from e
    values = [*decision.scores.values(), decision.confidence]
    if not all(math.isfinite(v) for v in values):
        msg = "the router loads but cannot route: its scores are not finite numbers"
        raise ValueError(msg)


def load_checked(config: GatewayConfig, path: Path) -> IR3DERouter:
    """Load the router folder `path` as untrusted data (the config's featurizer options and
    signing key) and check that it routes to the config's experts.

    Raises:
        ModelFileError: not a valid (or validly signed) router. ExpertError: other experts.
        ValueError: it loads but cannot route.
    """
    router = IR3DERouter.load(
        path,
        featurizer_options=config.router.featurizer_options,
        signing_key=config.router.signing_key(),
    )
    check_experts(router, config.experts, what="[[experts]] entry")
    check_routes(router)
    return router


def save_atomically(
    router: IR3DERouter,
    path: Path,
    *,
    signing_key: bytes | None = None,
    sidecar: Callable[[Path], None] | None = None,
) -> None:
    """Save `router` to the folder `path` so that no reader ever sees half of it.

    Args:
        sidecar: writes more files into the new folder before it is swapped in (a replica's
            cursor, `ir3de_serve.sharedlog.cursor`), so they are saved in the same atomic step.

    Raises:
        OSError: the folder cannot be written, or holds files that are not a router's (they
            would be lost: save to a folder of its own).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        router.save(tmp, signing_key=signing_key)
        if sidecar is not None:
            sidecar(tmp)
        for name in sorted(p.name for p in tmp.iterdir()):
            _fsync(tmp / name)
        if path.is_symlink():
            _swap_link(path, tmp)
        else:
            _swap_folder(path, tmp)
        _fsync(path.parent)  # the rename itself survives a crash
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_folder(path: Path, new: Path) -> None:
    if not path.exists():
        new.chmod(0o755)
        new.rename(path)
        return
    others = sorted(p.name for p in path.iterdir() if p.name not in _ROUTER_FILES)
    if others:
        msg = f"{path} holds files that are not a router's ({others}); save to a folder of its own"
        raise OSError(msg)
    new.chmod(path.stat().st_mode & 0o777)
    if _exchange(new, path):  # Linux: one atomic swap of the two folders
        shutil.rmtree(new, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    old.rmdir()
    path.rename(old)  # elsewhere: two renames, a moment with no folder (never half of one)
    new.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``; False when the
    system or the filesystem cannot."""
    renameat2 = getattr(_libc(), "renameat2", None) if sys.platform == "linux" else None
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _swap_link(link: Path, new: Path) -> None:
    previous = link.resolve()
    final = link.parent / f".{link.name}.v{time.time_ns()}"
    new.chmod(0o755)
    new.rename(final)
    tmp_link = link.parent / f".{link.name}.link{os.getpid()}.tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.name)
    os.replace(tmp_link, link)
    if previous.parent == link.parent.resolve() and previous.name.startswith(f".{link.name}.v"):
        shutil.rmtree(previous, ignore_errors=True)  # an earlier save of ours


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RouterSlot:
    """The gateway's router and its policy, replaced in one assignment.

    Readers take `router` (or `current`) once per request and keep it; a new router file is
    loaded beside the running router and swapped in. Saves and reloads of the folder hold one
    lock, so the gateway never reloads its own save, and never overwrites a router that someone
    else wrote after the last one it loaded (it loads that one instead).

    Args:
        config: the gateway config (router folder, featurizer options, signing key, experts).
        router: a router to start with instead of loading the folder (tests, embedding).
    """

    def __init__(self, config: GatewayConfig, router: IR3DERouter | None = None) -> None:
        self.config = config
        self.path = config.router.path
        self.lock = threading.Lock()
        self.signature = folder_signature(self.path)
        self.version = 0
        self.refused: str | None = None  # why the folder's latest router is not in force
        self._failed: Signature | None = None
        self._install(router if router is not None else self.load())

    @property
    def current(self) -> tuple[IR3DERouter, RoutingPolicy, int]:
        """The router, its policy in force and its version, read together."""
        return self._current

    @property
    def router(self) -> IR3DERouter:
        """The router in force."""
        return self._current[0]

    def load(self) -> IR3DERouter:
        """Load the router folder as untrusted data, and check it routes to the config's experts."""
        return load_checked(self.config, self.path)

    def reload_if_changed(self) -> Literal["reloaded", "refused", "unchanged"]:
        """Load and swap in the folder's router if it changed.

        A router that does not load (half-written, corrupt, unsigned, other experts) is refused
        with a warning (``refused``, once per file) and tried again on the next call; the
        running router stays.
        """
        if folder_signature(self.path) == self.signature:
            return "unchanged"
        with self.lock:
            signature = folder_signature(self.path)
            if signature is None or signature == self.signature:
                return "unchanged"
            try:
                router = self.load()
            except (IR3DEError, OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
                first = signature != self._failed
                self._failed = signature
                self.refused = f"{type(e).__name__}: {e}".replace(str(self.path), "<router.path>")
                if first:
                    logger.warning("router in %s refused, the running one stays: %s", self.path, e)
                return "refused" if first else "unchanged"
            if folder_signature(self.path) != signature:
                return "unchanged"  # it changed again while loading: the next call loads it
            self.signature = signature
            self.refused = None
            self._install(router)
        logger.info("router reloaded from %s (version %d)", self.path, self.version)
        return "reloaded"

    def save(
        self,
        path: Path,
        signing_key: bytes | None,
        sidecar: Callable[[Path], None] | None = None,
    ) -> bool:
        """Save the router in force to `path` atomically (with `sidecar`'s files, see
        `save_atomically`); False when skipped because the router folder (= `path`) holds a
        newer router than the one in force (it will be loaded)."""
        same = path.resolve() == self.path.resolve()
        with self.lock:
            if same and folder_signature(self.path) != self.signature:
                return False
            save_atomically(self.router, path, signing_key=signing_key, sidecar=sidecar)
            if same:
                self.signature = folder_signature(self.path)
        return True

    def publish(self, router: IR3DERouter, signing_key: bytes | None) -> None:
        """Write `router` (checked by the caller) into the router folder atomically and route
        with it: a promotion or a rollback (the gateway does not reload its own write)."""
        with self.lock:
            save_atomically(router, self.path, signing_key=signing_key)
            self.signature = folder_signature(self.path)
            self.refused = None
            self._install(router)

    def adopt(self, router: IR3DERouter) -> None:
        """Route with `router` (checked by the caller) from now on: a replica's saved state."""
        with self.lock:
            self._install(router)

    def _install(self, router: IR3DERouter) -> None:
        policy = self.config.resolve_policy(router.policy_)
        self.version += 1
        self._current = (router, policy, self.version)
