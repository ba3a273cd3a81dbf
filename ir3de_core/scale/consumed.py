"""What a streamed fit has read so far: the SHA-256 of every byte consumed, file by file.

A checkpoint may resume only over the very bytes its sums were computed from. JSONL positions
are byte offsets, so the consumed prefix of the current file is hashed (a log that grew since is
fine; one edited in place is not); other formats resume by record count, so a file they started
must be unchanged as a whole. The hashes are kept running as the stream advances: each byte is
hashed once per run, and once more when a resumed run checks the prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ConsumedInput"]

_BLOCK = 1 << 16  # bytes read per hash step: two blocks are alive at once, so keep it small


@dataclass
class _Prefix:
    """A running hash of the first `done` bytes of one file."""

    path: Path
    digest: Any
    done: int = 0

    def advance(self, upto: int) -> None:
        if upto <= self.done:
            return
        with self.path.open("rb") as handle:
            handle.seek(self.done)
            left = upto - self.done
            while left > 0:
                block = handle.read(min(_BLOCK, left))
                if not block:
                    break
                self.digest.update(block)
                self.done += len(block)
                left -= len(block)


class ConsumedInput:
    """The consumed prefix of each input file, hashed as a stream advances.

    Args:
        files: the input files, in reading order.
        by_bytes: for each file, whether positions in it are byte offsets (JSONL); other files
            count as consumed whole as soon as reading them starts.
    """

    def __init__(self, files: Sequence[Path], by_bytes: Sequence[bool]) -> None:
        self.files = list(files)
        self.by_bytes = list(by_bytes)
        self._prefixes: dict[int, _Prefix] = {}

    def entries(self, file: int, offset: int) -> list[dict[str, Any]]:
        """``[{"path", "bytes", "sha256"}]`` of files 0..`file`, the last up to byte `offset`
        (its end for a file read record by record)."""
        out = []
        for index in range(min(file, len(self.files) - 1) + 1):
            path = self.files[index]
            whole = index < file or not self.by_bytes[index]
            upto = path.stat().st_size if whole else offset
            prefix = self._prefix(index)
            prefix.advance(upto)
            out.append(
                {"path": str(path.resolve()), "bytes": prefix.done,
                 "sha256": prefix.digest.copy().hexdigest()}
            )  # fmt: skip
        return out

    def mismatch(self, entries: Sequence[dict[str, Any]], *, whole: bool = False) -> str | None:
        """The first file whose consumed bytes differ from `entries` (None: all match); with
        `whole`, a file that has grown since differs too.

        The running hashes continue from the checked prefixes, so a resumed run hashes each
        byte once more only.
        """
        for index, entry in enumerate(entries):
            if index >= len(self.files) or str(self.files[index].resolve()) != entry.get("path"):
                return str(entry.get("path"))
            if whole and self.files[index].stat().st_size != entry["bytes"]:
                return str(self.files[index])
            prefix = self._prefix(index)
            prefix.advance(int(entry["bytes"]))
            if prefix.done != entry["bytes"] or prefix.digest.hexdigest() != entry["sha256"]:
                return str(self.files[index])
        return None

    def _prefix(self, index: int) -> _Prefix:
        if index not in self._prefixes:
            self._prefixes[index] = _Prefix(self.files[index], hashlib.sha256())
        return self._prefixes[index]
