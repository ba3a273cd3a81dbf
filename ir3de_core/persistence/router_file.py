"""Saving and loading a `RoutedState` as ``arrays.npz`` + ``router.json``: no pickle, nothing run.

``router.json`` names the format and its version, the package version, the settings, the
policy, the featurizer's kind and feature-shaping settings, the group and expert names, the
shape and dtype of every array, and the SHA-256 of ``arrays.npz``. Loading checks all of them,
re-solves the weights from the statistics to check them, and refuses anything that does not
match with a `ModelFileError`. A router file is untrusted data (docs/security.md): it never names
an endpoint, a credential or a path; those come from the caller. The SHA-256 detects corruption;
only a signature made with the caller's key (``signing_key``) proves where a file came from.
This module knows states, not routers: `IR3DERouter.save`/`load` call it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ir3de_core._version import __version__
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import RoutedState
from ir3de_core.exceptions import ModelFileError
from ir3de_core.featurizers import make_featurizer
from ir3de_core.featurizers.trust import loading_config, saved_config
from ir3de_core.fit.spec import FitSpec
from ir3de_core.fit.tuning import TuningResult
from ir3de_core.persistence.arrayfile import (
    array_specs,
    read_checked_npz,
    read_manifest,
    sha256,
    write_json,
)
from ir3de_core.ridge.arrays import INT_FIELDS
from ir3de_core.ridge.scatter import Scatter
from ir3de_core.ridge.solver import RidgeSolution
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

__all__ = ["ARRAYS", "FORMAT", "FORMAT_VERSION", "MANIFEST", "load_router", "save_router"]

FORMAT = "ir3de-router"
FORMAT_VERSION = 3  # 3: design blocks and factored scatters; 2: centred statistics, the policy
# and the prior; 1: uncentred sums. Every version still loads.
ARRAYS, MANIFEST = "arrays.npz", "router.json"
_FEATURIZER_PREFIX = "featurizer_"
_REQUIRED = ("params", "featurizer", "design", "groups", "arrays", "sha256")
_MAX_MANIFEST_BYTES = 16 << 20
_INT_ARRAYS = frozenset("stats_" + f for f in INT_FIELDS)


def save_router(
    directory: Path,
    state: RoutedState,
    policy_param: dict[str, Any] | None = None,
    *,
    router_params: dict[str, Any] | None = None,
    signing_key: bytes | None = None,
) -> Path:
    """Write `state` to `directory` (created if needed) and return the directory.

    Args:
        directory: where ``arrays.npz`` and ``router.json`` go.
        state: the routed state.
        policy_param: the router's ``policy`` setting (what a refit starts from), as JSON.
        router_params: the router's settings as the user gave them (``"auto"`` included); the
            state's own settings are the resolved ones.
        signing_key: sign the manifest (HMAC-SHA256) so `load_router` can prove its origin.
    """
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        **state.statistics.to_arrays(),
        "coef": state.solution.coef,
        "intercept": state.solution.intercept,
    }
    featurizer_state: dict[str, np.ndarray] = getattr(state.featurizer, "state_arrays", dict)()
    arrays.update({_FEATURIZER_PREFIX + k: v for k, v in featurizer_state.items()})
    np.savez(directory / ARRAYS, **arrays)  # type: ignore[arg-type]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ir3de_version": __version__,
        "params": state.settings.to_json(),
        "policy": state.policy.to_dict(),
        "policy_param": policy_param,
        "router_params": router_params,
        "tuning": None if state.tuning is None else state.tuning.to_json(),
        "prior": state.prior,
        "featurizer": saved_config(state.featurizer.get_config()),
        "design": state.statistics.design,
        "groups": list(state.statistics.names),
        "expert_map": None if state.expert_map is None else dict(state.expert_map),
        "arrays": array_specs(arrays),
        "sha256": sha256(directory / ARRAYS),
    }
    if signing_key is not None:
        manifest["signature"] = _signature(manifest, signing_key)
    write_json(directory / MANIFEST, manifest)
    return directory


def load_router(
    directory: Path,
    *,
    featurizer_options: Mapping[str, Any] | None = None,
    signing_key: bytes | None = None,
) -> tuple[RoutedState, dict[str, Any] | None, RouterSettings]:
    """Read what `save_router` wrote: the state, the router's ``policy`` setting and its
    settings as the user gave them.

    Args:
        directory: the router's folder.
        featurizer_options: the caller's endpoint, credential variable, cache folder or local
            model directory for the featurizer (see `ir3de_core.featurizers.trust`).
        signing_key: require a valid signature made with this key.

    Raises:
        ModelFileError: on any missing, corrupted, unsigned or inconsistent part.
    """
    path = directory / MANIFEST
    if path.is_file() and path.stat().st_size > _MAX_MANIFEST_BYTES:
        msg = f"{path} is larger than {_MAX_MANIFEST_BYTES >> 20} MiB: not a router manifest"
        raise ModelFileError(msg)
    manifest = read_manifest(
        path, FORMAT, (1, FORMAT_VERSION), _REQUIRED, error=ModelFileError,
        what="an ir3de router", fix="re-save the router with `ir3de fit`",
    )  # fmt: skip
    if signing_key is not None:
        _verify(manifest, signing_key, path)
    try:
        _check_types(manifest)
        _check_array_specs(manifest)
        arrays = read_checked_npz(
            directory / ARRAYS, checksum=manifest["sha256"], expected=manifest["arrays"],
            error=ModelFileError, fix="re-save the router",
        )  # fmt: skip
        state = _state(manifest, arrays, featurizer_options)
        user = RouterSettings.from_params(manifest.get("router_params") or manifest["params"])
        return state, manifest.get("policy_param"), user
    except (KeyError, TypeError, ValueError, ArithmeticError, IndexError) as e:
        msg = f"{directory} holds an inconsistent router ({e}); re-save it with `ir3de fit`"
        raise ModelFileError(msg) from e


def _state(
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray],
    featurizer_options: Mapping[str, Any] | None,
) -> RoutedState:
    settings = RouterSettings.from_params(manifest["params"])
    featurizer = make_featurizer(loading_config(manifest["featurizer"], featurizer_options))
    featurizer_state = {
        k.removeprefix(_FEATURIZER_PREFIX): v
        for k, v in arrays.items()
        if k.startswith(_FEATURIZER_PREFIX)
    }
    if featurizer_state:
        featurizer.load_state_arrays(featurizer_state)  # type: ignore[attr-defined]
    if not getattr(featurizer, "is_fitted", True):
        msg = "the featurizer's learned arrays (e.g. TF-IDF weights) are missing"
        raise ValueError(msg)
    if featurizer.kind == "openai" and getattr(featurizer, "dimensions", None) is None:
        msg = "an openai featurizer must record its dimensions (loading never asks the endpoint)"
        raise ValueError(msg)
    stats = _statistics(manifest, arrays)
    _check_solution(arrays, stats)
    mapping = _expert_map(manifest, stats.names) if manifest["design"] == "shared" else None
    policy = RoutingPolicy.from_dict(manifest.get("policy") or {})
    prior = manifest.get("prior")
    spec = FitSpec(settings, featurizer)
    with np.errstate(over="raise", invalid="raise"):
        solved = spec.solve_statistics(stats, mapping, policy=policy, prior=prior)
    if not (
        np.isfinite(solved.solution.coef).all() and np.isfinite(solved.solution.intercept).all()
    ):
        msg = "the statistics do not solve to finite weights: the router cannot route"
        raise ValueError(msg)
    _check_weights(arrays, solved.solution, stats)
    tuning = manifest.get("tuning")
    return solved.replace(
        solution=RidgeSolution(arrays["coef"], arrays["intercept"]),
        tuning=None if tuning is None else TuningResult.from_json(tuning),
    )


_TYPES: dict[str, tuple[type, ...]] = {
    "params": (dict,),
    "featurizer": (dict,),
    "design": (str,),
    "groups": (list,),
    "arrays": (dict,),
    "sha256": (str,),
    "policy": (dict, type(None)),
    "policy_param": (dict, type(None)),
    "router_params": (dict, type(None)),
    "tuning": (dict, type(None)),
    "expert_map": (dict, type(None)),
    "prior": (str, type(None)),
}


def _check_types(manifest: dict[str, Any]) -> None:
    """Each manifest entry has the JSON type ir3de writes (before any entry is used)."""
    for key, types in _TYPES.items():
        if key in manifest and not isinstance(manifest[key], types):
            msg = f"{key!r} is a {type(manifest[key]).__name__}, not what ir3de writes"
            raise TypeError(msg)
    if not all(isinstance(g, str) and g for g in manifest["groups"]):
        msg = "groups must be non-empty names"
        raise TypeError(msg)
    for name, spec in manifest["arrays"].items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            msg = f"array {name!r} has no valid shape: {spec!r}"
            raise TypeError(msg)


def _statistics(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> SufficientStatistics:
    """The saved statistics: centred (version 2), or the uncentred sums of version 1."""
    names, design = manifest["groups"], manifest["design"]
    if manifest["format_version"] >= 2:
        return SufficientStatistics.from_arrays(arrays, names, design)
    raw = {f: arrays[f"stats_{f}"] for f in ("xtx", "xty", "sum_x", "sum_y", "weight")}
    for f, value in raw.items():
        if value.dtype != np.float64:
            msg = f"stats_{f} has dtype {value.dtype}, expected float64"
            raise ValueError(msg)
    counts = {f: arrays[f"stats_{f}"] for f in ("n_rows", "n_prompts")}
    return SufficientStatistics.from_raw(names, design, **raw, **counts)


def _check_array_specs(manifest: dict[str, Any]) -> None:
    """Every listed array has the dtype ir3de writes for it (float64, counts int64)."""
    specs = manifest["arrays"]
    if not isinstance(specs, dict):
        msg = "the manifest's arrays entry is not a mapping"
        raise TypeError(msg)
    for name, spec in specs.items():
        want = "<i8" if name in _INT_ARRAYS else "<f8"
        if not isinstance(spec, dict) or spec.get("dtype") != want:
            msg = f"array {name!r} is declared {spec!r}; ir3de writes it as {want}"
            raise ValueError(msg)


def _check_solution(arrays: dict[str, np.ndarray], stats: SufficientStatistics) -> None:
    k, d = len(stats.names), stats.n_features
    if arrays["coef"].shape != (d, k) or arrays["intercept"].shape != (k,):
        msg = f"coef/intercept shapes {arrays['coef'].shape}/{arrays['intercept'].shape} != ({d}, {k})/({k},)"
        raise ValueError(msg)
    if not (np.isfinite(arrays["coef"]).all() and np.isfinite(arrays["intercept"]).all()):
        msg = "coef or intercept holds NaN or inf"
        raise ValueError(msg)


def _check_weights(
    arrays: dict[str, np.ndarray], solved: RidgeSolution, stats: SufficientStatistics
) -> None:
    """The saved weights must predict what the solution of the saved statistics predicts, on
    the data they summarise (to 1e-6 of the predictions' size): round-off of rank-one updates
    in directions the data never takes does not matter, replaced weights do."""
    dw = arrays["coef"] - solved.coef
    db = arrays["intercept"] - solved.intercept
    pooled = stats.pooled() if stats.design == "shared" else None  # every column's rows
    for j in range(dw.shape[1]):
        b = int(stats.block[j])
        if pooled is None and b < 0:
            continue
        weight, mean, scatter = pooled or (
            stats.blocks[b].weight,
            stats.blocks[b].mean,
            stats.blocks[b].scatter,
        )
        error = _prediction_size(dw[:, j], db[j], weight, mean, scatter)
        size = _prediction_size(solved.coef[:, j], solved.intercept[j], weight, mean, scatter)
        if not error <= 1e-6 * size + 1e-9 or weight < 0:
            msg = "coef is not the ridge solution of the saved statistics"
            raise ValueError(msg)


def _prediction_size(
    w: np.ndarray, b: float, weight: float, mean: np.ndarray, scatter: Scatter
) -> float:
    """Root-mean-square size of ``x·w + b`` over rows with this weight, mean and scatter."""
    spread = float(scatter.quadratic(w[:, None])[0]) / max(weight, 1e-300)
    return float(np.sqrt(max(spread, 0.0) + (float(mean @ w) + float(b)) ** 2))


def _signature(manifest: Mapping[str, Any], key: bytes) -> str:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def _verify(manifest: Mapping[str, Any], key: bytes, path: Path) -> None:
    given = manifest.get("signature")
    if not isinstance(given, str) or not hmac.compare_digest(given, _signature(manifest, key)):
        msg = f"{path} is not signed with this signing key: refusing a router of unknown origin"
        raise ModelFileError(msg)


def _expert_map(manifest: dict[str, Any], groups: tuple[str, ...]) -> dict[str, str]:
    mapping = manifest.get("expert_map")
    if not isinstance(mapping, dict) or set(mapping) != set(groups):
        msg = f"expert_map {mapping!r} does not cover the domains {list(groups)}"
        raise ModelFileError(msg)
    return {g: str(mapping[g]) for g in groups}
