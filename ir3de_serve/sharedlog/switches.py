"""A router switch as the shared log keeps it: a promotion or rollback, with the router's bytes.

A switch is an entry of the shared log like a feedback event, so it has a place in the one
order every replica folds: each replica switches its base router at exactly that sequence
number and folds the later events into the new one. The entry carries the router archive
itself (its ``router.json`` and ``arrays.npz``, as saved, signed when a signing key is set) and
the SHA-256 of those bytes, so a replica on another machine needs nothing but the log's
database; a replica verifies the hash before it loads the router as untrusted data.

Entries are appended under the key ``ir3de-switch@<epoch>``, the epoch being the sequence
number of the last switch the appending replica has folded (0: none): the log's unique key
makes at most one switch per epoch win, so two replicas promoting at once append one switch
(the second append returns the first one's number and appends nothing).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ir3de_core.persistence.router_file import ARRAYS, MANIFEST

__all__ = [
    "ROUTER_FILES",
    "SwitchEntry",
    "archive_digest",
    "decode_switch",
    "encode_switch",
    "is_switch",
    "pack_router",
    "switch_key",
    "unpack_router",
]

_FORMAT = "ir3de-switch/1"
_PREFIX = b'{"format":"' + _FORMAT.encode() + b'"'
ROUTER_FILES = (MANIFEST, ARRAYS)
ACTIONS = ("promote", "rollback")


@dataclass(frozen=True)
class SwitchEntry:
    """One switch.

    Attributes:
        action: ``"promote"`` or ``"rollback"``.
        version: the name of the version switched to.
        sha256: `archive_digest` of `files`.
        epoch: the sequence number of the last switch the appending replica had folded.
        files: the router folder's files (``router.json``, ``arrays.npz``) as bytes.
        note: why (``manual``, or the auto-promotion's estimate).
        origin: the replica that appended it (a random id per gateway start).
    """

    action: str
    version: str
    sha256: str
    epoch: int
    files: dict[str, bytes]
    note: str = ""
    origin: str = ""


def switch_key(epoch: int) -> str:
    """The log key of the switch after the one at `epoch` (unique: one switch per epoch)."""
    return f"ir3de-switch@{epoch}"


def is_switch(payload: bytes) -> bool:
    """Whether `payload` is a switch entry (else a feedback event)."""
    return payload.startswith(_PREFIX)


def archive_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of the router's files: each file's name, length and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + str(len(files[name])).encode() + b"\0")
        h.update(files[name])
    return h.hexdigest()


def pack_router(folder: Path) -> dict[str, bytes]:
    """The files of the router saved in `folder`.

    Raises:
        OSError: a file is missing or unreadable.
    """
    return {name: (folder / name).read_bytes() for name in ROUTER_FILES}


def unpack_router(files: dict[str, bytes], folder: Path) -> Path:
    """Write `files` into the (new, empty) `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ROUTER_FILES:
        (folder / name).write_bytes(files[name])
    return folder


def encode_switch(entry: SwitchEntry) -> bytes:
    """The payload appended to the log (JSON; the files in base64)."""
    body = {
        "format": _FORMAT,
        "action": entry.action,
        "version": entry.version,
        "sha256": entry.sha256,
        "epoch": entry.epoch,
        "note": entry.note,
        "origin": entry.origin,
        "files": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(entry.files.items())},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_switch(payload: bytes) -> SwitchEntry:
    """The switch of `payload`, its files checked against its hash.

    Raises:
        ValueError: not a switch of this format, or files that do not match the hash.
    """
    try:
        body: Any = json.loads(payload)
        raw = body["files"]
        files = {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        msg = f"not a router switch: {e}"
        raise ValueError(msg) from e
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        msg = f"not a router switch of format {_FORMAT!r}"
        raise ValueError(msg)
    strings = [body.get(k) for k in ("action", "version", "sha256", "note", "origin")]
    epoch = body.get("epoch")
    if not all(isinstance(s, str) for s in strings) or not isinstance(epoch, int):
        msg = "the switch's action, version, hash, note, origin or epoch is malformed"
        raise ValueError(msg)
    action, version, sha256, note, origin = (str(s) for s in strings)
    if action not in ACTIONS or sorted(files) != sorted(ROUTER_FILES):
        msg = f"the switch's action {action!r} or its files {sorted(files)} are not a router's"
        raise ValueError(msg)
    if archive_digest(files) != sha256:
        msg = f"the router of switch {version!r} does not match its SHA-256 (corrupt entry)"
        raise ValueError(msg)
    return SwitchEntry(action, version, sha256, int(epoch), files, note, origin)
