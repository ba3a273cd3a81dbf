"""Reading records from files one chunk at a time, each chunk tagged with where to resume.

JSONL is read in binary with byte offsets, so a resumed fit seeks straight to where it stopped;
it is read by `ir3de_core.data.loaders.read_jsonl`, the reader `load_records` uses, so both accept
and refuse the same files (a leading BOM skipped, errors named by ``file:line``).
CSV (RouterBench) streams too and resumes by skipping the records already consumed. A RouterDC
``.json`` file is one JSON list: it is read whole, so memory grows with that file (convert large
data to canonical JSONL, one record per line, to stream it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from tqdm.auto import tqdm

from ir3de_core.data.loaders import DataFormat, detect_format, iter_records, read_jsonl
from ir3de_core.data.records import Record
from ir3de_core.scale.checkpoint import Position

__all__ = ["ProgressBar", "file_format", "iter_chunks", "iter_positioned"]


def file_format(path: Path, format: DataFormat) -> DataFormat:
    """The format of `path`: `format` itself unless it is ``"auto"``."""
    return detect_format(path) if format == "auto" else format


def iter_positioned(
    files: Sequence[Path], format: DataFormat = "auto", start: Position | None = None
) -> Iterator[tuple[Record, Position]]:
    """Each record of `files` from `start` on, with the position just after it."""
    start = start or Position()
    for index in range(start.file, len(files)):
        path = files[index]
        begin = start if index == start.file else Position(index)
        if file_format(path, format) == "jsonl":
            yield from _jsonl(path, begin)
        else:
            records = iter_records(path, format=format)
            for line, record in enumerate(islice(records, begin.line, None), start=begin.line + 1):
                yield record, Position(index, 0, line)


def _jsonl(path: Path, start: Position) -> Iterator[tuple[Record, Position]]:
    for item in read_jsonl(path, offset=start.offset, line=start.line):
        yield item.record, Position(start.file, item.offset, item.line)


def iter_chunks(
    positioned: Iterable[tuple[Record, Position]], size: int
) -> Iterator[tuple[list[Record], Position]]:
    """Lists of at most `size` records, each with the position after its last record."""
    if size < 1:
        msg = f"chunk size must be ≥ 1, got {size}"
        raise ValueError(msg)
    chunk: list[Record] = []
    position = Position()
    for record, position in positioned:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk, position
            chunk = []
    if chunk:
        yield chunk, position


class ProgressBar:
    """Progress through input files: in bytes when every file is JSONL, else in prompts.

    Args:
        files: the input files.
        format: their format (``"auto"`` guesses from each suffix).
        desc: the bar's label.
        start: where the stream starts (a resumed fit starts part-way).
        done: prompts already counted (a resumed fit).
        enabled: False shows nothing.
    """

    def __init__(
        self,
        files: Sequence[Path],
        format: DataFormat,
        *,
        desc: str,
        start: Position | None = None,
        done: int = 0,
        enabled: bool = True,
    ) -> None:
        self._sizes = [p.stat().st_size for p in files]
        self._bytes = all(file_format(p, format) == "jsonl" for p in files)
        start = start or Position()
        self._done = done
        if self._bytes:
            initial = sum(self._sizes[: start.file]) + start.offset
            self._bar = tqdm(total=sum(self._sizes), initial=initial, unit="B", unit_scale=True,
                             desc=desc, disable=not enabled)  # fmt: skip
        else:
            self._bar = tqdm(initial=done, unit="prompt", desc=desc, disable=not enabled)

    def update(self, n_records: int, position: Position) -> None:
        """Advance to `position`, having read `n_records` more records."""
        self._done += n_records
        if self._bytes:
            self._bar.update(sum(self._sizes[: position.file]) + position.offset - self._bar.n)
            self._bar.set_postfix(prompts=self._done, refresh=False)
        else:
            self._bar.update(n_records)

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()
