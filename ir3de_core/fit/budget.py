"""How much memory a fit needs, checked against what the machine has before anything is allocated.

A fit holds the prompts' feature rows, each fold's statistics and eigendecomposition (a scatter
is a factor of min(rows, d) rows of d numbers), the coefficients of the α being scored, and the
held-out score tables (h × k numbers each, h = min(n, 8,192) held-out prompts) of the
candidates still in the running. The estimate below counts those arrays in float64; it is an
upper bound on the arrays, not on Python's own overhead (about 0.2 GB with numpy, scipy and
scikit-learn imported). A fit that would need more than the memory available is refused with
`FitMemoryError`, which names what to change, instead of being killed by the kernel halfway
through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ir3de_core.exceptions import FitMemoryError
from ir3de_core.fit.folds import SAMPLE_SIZE

__all__ = ["FitMemoryError", "FitSize", "available_memory", "check_fit_memory"]

_FLOAT = 8  # bytes
_HELD_TABLES = 10  # h × k tables alive at once: 3 arrays for the best, the current and the prior
_BASE = 8 << 20  # bytes: small temporaries that do not grow with the data
_CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class FitSize:
    """The sizes that decide a fit's memory.

    Attributes:
        n_prompts: n, prompts in the fit.
        n_features: d, features per row.
        n_groups: k, experts (quality mode) or domains (domain mode).
        folds: cross-validation folds (0 when nothing is tuned).
        rows_kept: whether the prompts' feature rows are kept (pooled rows; token rows are not).
        dual: whether cross-validation keeps each fold as its rows and scores it in the dual
            form (`ir3de_core.ridge.dual_folds`: quality mode, every score observed, n ≤ d):
            then no fold has a scatter or k × d cross-products of its own.
    """

    n_prompts: int
    n_features: int
    n_groups: int
    folds: int
    rows_kept: bool = True
    dual: bool = False

    @property
    def nbytes(self) -> int:
        """Estimated peak bytes of the fit's arrays:
        ``8·[n·d + n·k + s·min(n, d)·d + c·k·d + 10·h·k] + 8 MiB``: the rows, the targets,
        ``s = 2·folds + 2`` copies of the scatters (each fold's and the total's, and their
        eigenvectors), ``c = folds + 6`` d × k arrays when tuned (each fold's cross-products
        and the total's, two merge temporaries, one fold's projection temporary, the final
        coefficients: held-out rows are scored along the α path from per-fold projections,
        never from an α's d × k weights) or ``c = 8`` untuned, and the held-out tables of the
        h = min(n, 8,192) held-out prompts (`folds.SAMPLE_SIZE`; only when settings are tuned).

        Tuned in the dual form (`FitSpec.part`'s parts: their folds go before the final solve),
        no fold has a scatter or cross-products of its own:
        ``8·[(2 + 3/folds)·n·d + 3·n² + 2·k·d + n·k + 10·h·k] + 8 MiB``: each fold's rows
        and the total's factor (the folds' rows stacked, then centred in place; its thin QR,
        after the folds are dropped, is formed in one copy), one fold's held-out rows and their
        featurizing; one Gram of every row (``ridge.dual_folds``), a fold's kernel and its
        eigenvectors; the total's cross-products and the final coefficients (one GEMM)."""
        n, d, k = self.n_prompts, self.n_features, self.n_groups
        held = min(n, SAMPLE_SIZE)
        if self.dual and self.folds:
            words = (
                2 * n * d
                + 3 * n * d // self.folds
                + 3 * n * n
                + 2 * k * d
                + n * k
                + _HELD_TABLES * held * k
            )
            return _FLOAT * words + _BASE
        scatters = 2 * self.folds + 2
        crosses = (4 if self.dual else self.folds + 6) if self.folds else 8
        rows = n * d if self.rows_kept else 0
        tables = _HELD_TABLES * held * k if self.folds else 0
        words = rows + n * k + scatters * min(n, d) * d + crosses * k * d + tables
        return _FLOAT * words + _BASE


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smaller of the machine's available memory
    (``MemAvailable``) and the room left under a cgroup limit; None when neither is known.
    ``IR3DE_MEMORY_LIMIT`` (bytes) overrides both."""
    override = os.environ.get("IR3DE_MEMORY_LIMIT")
    if override:
        try:
            return int(float(override))
        except ValueError:
            msg = f"IR3DE_MEMORY_LIMIT must be a number of bytes, got {override!r}"
            raise ValueError(msg) from None
    limits = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(limits) if limits else None


def check_fit_memory(size: FitSize, *, available: int | None = None) -> None:
    """Raise `FitMemoryError` when `size` needs more than `available` bytes (default: what
    `available_memory` finds; no check when it finds nothing)."""
    room = available_memory() if available is None else available
    need = size.nbytes
    if room is None or need <= room:
        return
    tuned = f" with cv={size.folds}" if size.folds else ""
    msg = (
        f"this fit needs about {_gb(need)} of memory ({size.n_prompts} prompts × "
        f"{size.n_features} features × {size.n_groups} groups{tuned}) but {_gb(room)} is "
        "available; use fewer features (e.g. HashingFeaturizer(n_features=4096), or the "
        "'sentence' featurizer's 384), fewer folds (cv=3) or a fixed alpha (no "
        "cross-validation), fit fewer experts at a time, or sum statistics over machines "
        "with Dask (ir3de_core.scale); IR3DE_MEMORY_LIMIT=<bytes> overrides the limit"
    )
    raise FitMemoryError(msg)


def _gb(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Room under a cgroup v2 memory limit (``memory.max − memory.current``), if any."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        current = int((_CGROUP / "memory.current").read_text().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError):
        return None
