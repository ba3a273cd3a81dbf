"""Saving and loading a `RoutedState` as ``arrays.npz`` + ``router.json``: no pickle, nothing run.

``router.json`` names the format and its version, the package version, the settings, the
policy, the featurizer config, the group and expert names, the shape and dtype of every array,
and the SHA-256 of ``arrays.npz``. Loading checks all of them and refuses anything that does not
match. This module knows states, not routers: `IR3DERouter.save`/`load` call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ir3de_core._version import __version__
from ir3de_core.arrayfile import array_specs, read_checked_npz, read_manifest, sha256, write_json
from ir3de_core.exceptions import ModelFileError
from ir3de_core.featurizers import make_featurizer
from ir3de_core.fitting import FitSpec
from ir3de_core.policy import RoutingPolicy
from ir3de_core.settings import RouterSettings
from ir3de_core.solver import RidgeSolution
from ir3de_core.state import RoutedState
from ir3de_core.statistics import SufficientStatistics

__all__ = ["ARRAYS", "FORMAT", "FORMAT_VERSION", "MANIFEST", "load_router", "save_router"]

FORMAT = "ir3de-router"
FORMAT_VERSION = 2  # 2 adds the policy and the prior; version 1 files still load
ARRAYS, MANIFEST = "arrays.npz", "router.json"
_FEATURIZER_PREFIX = "featurizer_"
_REQUIRED = ("params", "featurizer", "design", "groups", "arrays", "sha256")


def save_router(
    directory: Path, state: RoutedState, policy_param: dict[str, Any] | None = None
) -> Path:
    """Write `state` to `directory` (created if needed) and return the directory.

    Args:
        directory: where ``arrays.npz`` and ``router.json`` go.
        state: the routed state.
        policy_param: the router's ``policy`` setting (what a refit starts from), as JSON.
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
        "prior": state.prior,
        "featurizer": state.featurizer.get_config(),
        "design": state.statistics.design,
        "groups": list(state.statistics.names),
        "expert_map": None if state.expert_map is None else dict(state.expert_map),
        "arrays": array_specs(arrays),
        "sha256": sha256(directory / ARRAYS),
    }
    write_json(directory / MANIFEST, manifest)
    return directory


def load_router(directory: Path) -> tuple[RoutedState, dict[str, Any] | None]:
    """Read what `save_router` wrote: the state and the router's ``policy`` setting.

    Raises:
        ModelFileError: on any missing, corrupted or inconsistent part.
    """
    manifest = read_manifest(
        directory / MANIFEST, FORMAT, (1, FORMAT_VERSION), _REQUIRED, error=ModelFileError,
        what="an ir3de router", fix="re-save the router with `ir3de fit`",
    )  # fmt: skip
    arrays = read_checked_npz(
        directory / ARRAYS, checksum=manifest["sha256"], expected=manifest["arrays"],
        error=ModelFileError, fix="re-save the router",
    )  # fmt: skip
    try:
        return _state(manifest, arrays), manifest.get("policy_param")
    except (KeyError, TypeError, ValueError) as e:
        msg = f"{directory} holds an inconsistent router ({e}); re-save it with `ir3de fit`"
        raise ModelFileError(msg) from e


def _state(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> RoutedState:
    settings = RouterSettings.from_params(manifest["params"])
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
    mapping = _expert_map(manifest, stats.names) if manifest["design"] == "shared" else None
    policy = RoutingPolicy.from_dict(manifest.get("policy") or {})
    prior = manifest.get("prior")
    if prior is None or not isinstance(prior, str):
        prior = FitSpec.prior(stats, mapping)
    solution = RidgeSolution(arrays["coef"], arrays["intercept"])
    return RoutedState(settings, featurizer, stats, solution, mapping, policy=policy, prior=prior)


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
