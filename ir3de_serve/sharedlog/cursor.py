"""A replica's cursor: the last sequence number folded, saved inside its router folder.

The cursor file is written into the new router folder before that folder is swapped into place
(`ir3de_serve.storage.save_atomically`), so the statistics and the cursor are saved in one
atomic step: a replica killed at any moment restarts from a router and the cursor of the same
save, and folds the events after it (none twice, none missed). The file names the log and the
base router it belongs to and the SHA-256 of the ``router.json`` beside it (which holds the
arrays' checksum), and is signed with the router's signing key when there is one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from ir3de_core.persistence.router_file import MANIFEST
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_serve.sharedlog.base import SharedLogError

__all__ = ["CURSOR_FILE", "read_cursor", "read_switch_state", "statistics_digest", "write_cursor"]

CURSOR_FILE = "shared_log.json"
_FORMAT = "ir3de-shared-log-cursor/1"


def statistics_digest(statistics: SufficientStatistics) -> str:
    """SHA-256 of the statistics (names, design and every array, bit for bit)."""
    h = hashlib.sha256(json.dumps([list(statistics.names), statistics.design]).encode())
    for name, array in sorted(statistics.to_arrays().items()):
        h.update(name.encode())
        h.update(str(array.dtype).encode() + str(array.shape).encode())
        h.update(array.tobytes())
    return h.hexdigest()


def write_cursor(
    folder: Path,
    *,
    log_id: str,
    base: str,
    sequence: int,
    signing_key: bytes | None,
    switches: dict[str, Any] | None = None,
) -> None:
    """Write the cursor of the router saved in `folder` (call before the folder is swapped in);
    `switches`: the router switches folded so far (`ir3de_serve.switching`), signed with it."""
    body: dict[str, Any] = {
        "format": _FORMAT,
        "log": log_id,
        "base": base,
        "sequence": sequence,
        "router_sha256": hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest(),
    }
    if switches is not None:
        body["switches"] = switches
    if signing_key is not None:
        body["hmac"] = _sign(body, signing_key)
    (folder / CURSOR_FILE).write_text(json.dumps(body, indent=1), encoding="utf-8")


def read_cursor(folder: Path, *, log_id: str, base: str, signing_key: bytes | None) -> int | None:
    """The sequence number the router in `folder` has folded up to (None: no cursor there).

    Raises:
        SharedLogError: the cursor is unreadable, unsigned or wrongly signed, belongs to another
            log or base router, or to another router than the one beside it.
    """
    path = folder / CURSOR_FILE
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        manifest = (folder / MANIFEST).read_bytes()
    except (OSError, ValueError) as e:
        msg = f"cannot read the replica's cursor {path}: {e}"
        raise SharedLogError(msg) from e
    _check(path, body, manifest, log_id=log_id, base=base, signing_key=signing_key)
    return int(body["sequence"])


def read_switch_state(folder: Path) -> dict[str, Any]:
    """The switch state saved with the cursor in `folder` ({}: none); call after `read_cursor`
    has accepted the cursor."""
    body = json.loads((folder / CURSOR_FILE).read_text(encoding="utf-8"))
    state = body.get("switches") if isinstance(body, dict) else None
    return state if isinstance(state, dict) else {}


def _check(
    path: Path,
    body: Any,
    manifest: bytes,
    *,
    log_id: str,
    base: str,
    signing_key: bytes | None,
) -> None:
    fix = f"delete {path.parent} to refold the whole log from the router file"
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        msg = f"{path} is not a replica's cursor; {fix}"
        raise SharedLogError(msg)
    sequence = body.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        msg = f"{path} holds no valid sequence number; {fix}"
        raise SharedLogError(msg)
    if signing_key is not None:
        given = body.get("hmac")
        if not isinstance(given, str) or not hmac.compare_digest(given, _sign(body, signing_key)):
            msg = f"{path} is not signed with the router's signing key; {fix}"
            raise SharedLogError(msg)
    if body.get("log") != log_id or body.get("base") != base:
        msg = f"the state in {path.parent} was folded from another shared log or base router; {fix}"
        raise SharedLogError(msg)
    if body.get("router_sha256") != hashlib.sha256(manifest).hexdigest():
        msg = f"the router in {path.parent} is not the one its cursor was saved with; {fix}"
        raise SharedLogError(msg)


def _sign(body: dict[str, Any], key: bytes) -> str:
    signed = {k: v for k, v in body.items() if k != "hmac"}
    message = json.dumps(signed, sort_keys=True).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
