"""Every load error is a `ModelFileError` (issue 18): overflowing or NaN weights and statistics."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ir3de_core import IR3DERouter, ModelFileError
from ir3de_core.persistence.arrayfile import sha256
from ir3de_core.persistence.router_file import ARRAYS, MANIFEST

PROMPTS = ["solve the integral", "prove the theorem", "write python code", "fix the js bug"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    scores = [{"a": 0.9, "b": 0.2}] * 2 + [{"a": 0.2, "b": 0.9}] * 2
    router = IR3DERouter({"kind": "hashing", "n_features": 64}, target="quality")
    return router.fit(PROMPTS, scores).save(tmp_path_factory.mktemp("r") / "router")


@pytest.mark.parametrize("value", [1e308, -1e308, 1.7e308, np.nan, np.inf])
@pytest.mark.parametrize("name", ["intercept", "coef", "stats_mean_y", "stats_cross"])
def test_extreme_values_load_or_fail_with_model_file_error(
    saved, tmp_path, name: str, value: float
) -> None:
    """A weight in a direction the data never takes may load (the check is on predictions
    over the saved data); anything else is refused, and never with a raw OverflowError."""
    path = Path(shutil.copytree(saved, tmp_path / "copy"))
    arrays = dict(np.load(path / ARRAYS))
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = value
    if name == "intercept":  # keep the statistics consistent, so only the size is at fault
        arrays["stats_mean_y"] = arrays["stats_mean_y"].copy()
        arrays["stats_mean_y"].flat[0] = value
    np.savez(path / ARRAYS, **arrays)
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["sha256"] = sha256(path / ARRAYS)
    (path / MANIFEST).write_text(json.dumps(manifest))
    with np.errstate(all="ignore"), contextlib.suppress(ModelFileError):
        IR3DERouter.load(path)
    if not np.isfinite(value) or name in ("intercept", "stats_mean_y"):
        with pytest.raises(ModelFileError), np.errstate(all="ignore"):
            IR3DERouter.load(path)
