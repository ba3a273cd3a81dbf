"""Saving and loading routers as ``arrays.npz`` + ``router.json``: no pickle, nothing executed.

``router.json`` names the format and its version, the package version, the settings, the
featurizer config, the group and expert names, the shape and dtype of every array, and the
SHA-256 of ``arrays.npz``. Loading checks all of them and refuses anything that does not match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ir3de_core._version import __version__
from ir3de_core.arrayfile import array_specs, read_checked_npz, sha256
from ir3de_core.exceptions import ModelFileError
from ir3de_core.featurizers import make_featurizer
from ir3de_core.statistics import SufficientStatistics

if TYPE_CHECKING:
    from ir3de_core.router import IR3DERouter

__all__ = ["FORMAT", "FORMAT_VERSION", "load_router", "save_router"]

FORMAT = "ir3de-router"
FORMAT_VERSION = 1
ARRAYS, MANIFEST = "arrays.npz", "router.json"
_FEATURIZER_PREFIX = "featurizer_"


def save_router(router: IR3DERouter, directory: Path) -> Path:
    """Write `router` to `directory` (created if needed) and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        **router.statistics_.to_arrays(),
        "coef": router.coef_,
        "intercept": router.intercept_,
    }
    state: dict[str, np.ndarray] = getattr(router.featurizer_, "state_arrays", dict)()
    arrays.update({_FEATURIZER_PREFIX + k: v for k, v in state.items()})
    params = router.get_params(deep=False)
    params.pop("featurizer")
    if params.get("expert_map") is not None:
        params["expert_map"] = dict(params["expert_map"])
    np.savez(directory / ARRAYS, **arrays)  # type: ignore[arg-type]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ir3de_version": __version__,
        "params": params,
        "featurizer": router.featurizer_.get_config(),
        "design": router.statistics_.design,
        "groups": list(router.statistics_.names),
        "expert_map": getattr(router, "expert_map_", None),
        "arrays": array_specs(arrays),
        "sha256": sha256(directory / ARRAYS),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return directory


def load_router(directory: Path) -> IR3DERouter:
    """Read a router saved by `save_router`; raise `ModelFileError` on any inconsistency."""
    from ir3de_core.router import IR3DERouter

    manifest = _read_manifest(directory)
    arrays = _read_arrays(directory, manifest)
    try:
        router = IR3DERouter(featurizer=manifest["featurizer"], **manifest["params"])
        router._validate_params()
        featurizer = make_featurizer(manifest["featurizer"])
        featurizer_state = {
            k.removeprefix(_FEATURIZER_PREFIX): v
            for k, v in arrays.items()
            if k.startswith(_FEATURIZER_PREFIX)
        }
        if featurizer_state:
            featurizer.load_state_arrays(featurizer_state)  # type: ignore[attr-defined]
        stats = SufficientStatistics.from_arrays(arrays, manifest["groups"], manifest["design"])
        _check_solution(arrays, stats)
    except (KeyError, TypeError, ValueError) as e:
        msg = f"{directory} holds an inconsistent router ({e}); re-save it with `ir3de fit`"
        raise ModelFileError(msg) from e
    router.featurizer_ = featurizer
    router.statistics_ = stats
    if manifest["design"] == "shared":
        router.expert_map_ = _expert_map(manifest, stats.names)
    router.coef_, router.intercept_ = arrays["coef"], arrays["intercept"]
    router._attach_scorer()
    return router


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        msg = f"{path} not found: is {directory} a directory written by IR3DERouter.save?"
        raise ModelFileError(msg)
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        msg = f"{path} is not valid JSON ({e}); the file is corrupted, re-save the router"
        raise ModelFileError(msg) from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        msg = f"{path} is not an ir3de router manifest (format != {FORMAT!r})"
        raise ModelFileError(msg)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        msg = (
            f"{path} has format version {version!r}; this ir3de ({__version__}) reads version "
            f"{FORMAT_VERSION}: upgrade ir3de or re-save the router"
        )
        raise ModelFileError(msg)
    required = ("params", "featurizer", "design", "groups", "arrays", "sha256")
    missing = [k for k in required if k not in manifest]
    if missing:
        msg = f"{path} lacks {missing}; the file is truncated or tampered with"
        raise ModelFileError(msg)
    return manifest


def _read_arrays(directory: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    return read_checked_npz(
        directory / ARRAYS,
        checksum=manifest["sha256"],
        expected=manifest["arrays"],
        error=ModelFileError,
        fix="re-save the router",
    )


def _check_solution(arrays: dict[str, np.ndarray], stats: SufficientStatistics) -> None:
    k, d = len(stats.names), stats.n_features
    if arrays["coef"].shape != (d, k) or arrays["intercept"].shape != (k,):
        msg = f"coef/intercept shapes {arrays['coef'].shape}/{arrays['intercept'].shape} != ({d}, {k})/({k},)"
        raise ValueError(msg)
    if not (np.isfinite(arrays["coef"]).all() and np.isfinite(arrays["intercept"]).all()):
        msg = "coef or intercept holds NaN or inf"
        raise ValueError(msg)


def _expert_map(manifest: dict[str, Any], groups: tuple[str, ...]) -> dict[str, str]:
    mapping = manifest.get("expert_map")
    if not isinstance(mapping, dict) or set(mapping) != set(groups):
        msg = f"expert_map {mapping!r} does not cover the domains {list(groups)}"
        raise ModelFileError(msg)
    return {g: str(mapping[g]) for g in groups}
