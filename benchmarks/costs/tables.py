"""A benchmark table: a title, headers and rows, printable and JSON-serialisable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ir3de_cli.report import format_table

__all__ = ["Table"]


@dataclass(frozen=True)
class Table:
    """One result table.

    Attributes:
        title: what the table shows (one line).
        headers: column names.
        rows: the rows; floats are rounded to `digits` when printed, None prints as '—'.
        digits: decimals shown for floats.
        notes: lines printed under the table (data problems handled, references, files).
    """

    title: str
    headers: list[str]
    rows: list[list[Any]]
    digits: int = 4
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The title, a Markdown table and the notes."""
        lines = [f"### {self.title}", "", format_table(self.headers, self.rows, digits=self.digits)]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)
