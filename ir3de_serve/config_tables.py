"""Reading each table of the gateway config: typed values, unknown keys refused, clear messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_serve.config import (
    ROUTED_MODEL,
    ConfigError,
    ExpertConfig,
    FeedbackConfig,
    RouterConfig,
    ServerConfig,
    ShadowConfig,
    StickyConfig,
)
from ir3de_serve.sharedlog.urls import normalize_log_url

__all__ = ["TableReader"]

_EXPERT_KEYS = {
    "name", "base_url", "model", "api_key_env", "price_per_1k_tokens", "timeout_seconds",
    "max_retries",
}  # fmt: skip


class TableReader:
    """Reads the tables of one config file; errors start with the file's name.

    Args:
        base: the folder relative paths are read from (the config file's).
        where: the prefix of error messages (``"gateway.toml: "``).
    """

    def __init__(self, base: Path, where: str) -> None:
        self.base = base
        self.where = where

    # ------------------------------------------------------------------ tables
    def router(self, t: Mapping[str, Any]) -> RouterConfig:
        self.keys(
            "[router]",
            t,
            {"path", "featurizer_options", "signing_key_env", "reload_seconds", "versions"},
        )
        options = t.get("featurizer_options")
        if options is not None and not isinstance(options, Mapping):
            self.fail("router.featurizer_options must be a table, e.g. { base_url = '...' }")
        return RouterConfig(
            path=self.path(t, "router.path", required=True),  # type: ignore[arg-type]
            featurizer_options=dict(options) if options is not None else None,
            signing_key_env=self.name(t, "router.signing_key_env"),
            reload_seconds=self.number(t, "router.reload_seconds", 2.0, low=0.0),
            versions=self.path(t, "router.versions"),
        )

    def shadow(self, t: Mapping[str, Any]) -> ShadowConfig:
        self.keys("[shadow]", t, set(ShadowConfig.__dataclass_fields__))
        d = ShadowConfig()
        name = t.get("name")
        if name is not None and not isinstance(name, str):
            self.fail(f"shadow.name must be a version name (a string), got {name!r}")
        return ShadowConfig(
            router=self.path(t, "shadow.router"),
            name=name,
            min_events=self.integer(t, "shadow.min_events", d.min_events),
            auto_promote=self.boolean(t, "shadow.auto_promote", d.auto_promote),
            check_every=self.integer(t, "shadow.check_every", d.check_every),
            level=self.number(t, "shadow.level", d.level, low=0.5, high=0.999),
            bootstrap=self.integer(t, "shadow.bootstrap", d.bootstrap, low=100),
            seed=self.integer(t, "shadow.seed", d.seed, low=0),
            max_events=self.integer(t, "shadow.max_events", d.max_events),
        )

    def server(self, t: Mapping[str, Any]) -> ServerConfig:
        self.keys("[server]", t, set(ServerConfig.__dataclass_fields__))
        d = ServerConfig()
        return ServerConfig(
            host=self.string(t, "server.host", d.host),
            port=self.integer(t, "server.port", d.port, low=0, high=65535),
            api_key_env=self.name(t, "server.api_key_env"),
            admin_key_env=self.name(t, "server.admin_key_env"),
            max_request_bytes=self.integer(t, "server.max_request_bytes", d.max_request_bytes),
            max_n=self.integer(t, "server.max_n", d.max_n),
            max_messages=self.integer(t, "server.max_messages", d.max_messages),
            log_max_bytes=self.integer(t, "server.log_max_bytes", d.log_max_bytes, low=1024),
            max_attempts=self.integer(t, "server.max_attempts", d.max_attempts),
            cooldown_seconds=self.number(t, "server.cooldown_seconds", d.cooldown_seconds),
            log_prompts=self.boolean(t, "server.log_prompts", d.log_prompts),
            decision_log=self.path(t, "server.decision_log"),
            access_log=self.boolean(t, "server.access_log", d.access_log),
            workers=self.integer(t, "server.workers", d.workers, low=1, high=256),
        )

    def feedback(self, t: Mapping[str, Any], router_path: Path) -> FeedbackConfig:
        self.keys("[feedback]", t, set(FeedbackConfig.__dataclass_fields__) | {"save"})
        d = FeedbackConfig()
        save_to = self.path(t, "feedback.save_to") or router_path
        return FeedbackConfig(
            enabled=self.boolean(t, "feedback.enabled", d.enabled),
            log=self.path(t, "feedback.log"),
            save_to=save_to if self.boolean(t, "feedback.save", True) else None,
            save_every_events=self.integer(t, "feedback.save_every_events", d.save_every_events),
            save_every_seconds=self.number(
                t, "feedback.save_every_seconds", d.save_every_seconds, low=0.1
            ),
            window_seconds=self.number(t, "feedback.window_seconds", d.window_seconds, low=1.0),
            max_pending=self.integer(t, "feedback.max_pending", d.max_pending),
            max_pending_bytes=self.integer(t, "feedback.max_pending_bytes", d.max_pending_bytes),
            score_range=self.score_range(t),
            key_share=self.number(t, "feedback.key_share", d.key_share, low=1e-6),
            event_novelty=self.number(t, "feedback.event_novelty", d.event_novelty, low=0.0),
            key_influence=self.key_influence(t),
            key_rate_per_minute=self.number(
                t, "feedback.key_rate_per_minute", d.key_rate_per_minute, low=1e-3
            ),
            shared_log=self.shared_log(t, router_path, save_to),
            shared_log_password_env=self.name(t, "feedback.shared_log_password_env"),
            shared_log_poll_seconds=self.number(
                t, "feedback.shared_log_poll_seconds", d.shared_log_poll_seconds, low=0.01
            ),
        )

    def key_influence(self, t: Mapping[str, Any]) -> float | None:
        """``feedback.key_influence``: a number > 0, or absent (derived from ``key_share``)."""
        if "key_influence" not in t:
            return None
        value = self.number(t, "feedback.key_influence", 0.0, low=0.0)
        if not value > 0:
            self.fail(f"feedback.key_influence must be a number > 0, got {value!r}")
        return value

    def shared_log(self, t: Mapping[str, Any], router_path: Path, save_to: Path) -> str | None:
        """``feedback.shared_log``, normalised; each replica must save to a folder of its own."""
        if t.get("shared_log") is None:
            return None
        value = self.string(t, "feedback.shared_log", None)
        try:
            url = normalize_log_url(value, base=self.base, router_path=router_path)
        except ValueError as e:
            self.fail(f"feedback.shared_log: {e}")
        if t.get("save", True) and save_to.resolve() == router_path.resolve():
            self.fail(
                "with feedback.shared_log each replica saves its router and cursor to a folder "
                "of its own: set feedback.save_to (e.g. 'state/replica-a'), not the router folder"
            )
        return url

    def score_range(self, t: Mapping[str, Any]) -> tuple[float, float] | None:
        value = t.get("score_range")
        if value is None:
            return None
        ok = isinstance(value, list) and len(value) == 2
        if not ok or not all(isinstance(v, int | float) and math.isfinite(v) for v in value):
            self.fail(f"feedback.score_range must be [low, high], two numbers, got {value!r}")
        low, high = float(value[0]), float(value[1])
        if not low < high:
            self.fail(f"feedback.score_range needs low < high, got {value!r}")
        return low, high

    def sticky(self, t: Mapping[str, Any]) -> StickyConfig:
        self.keys("[sticky]", t, set(StickyConfig.__dataclass_fields__))
        d = StickyConfig()
        header = self.string(t, "sticky.header", d.header).lower()
        return StickyConfig(
            enabled=self.boolean(t, "sticky.enabled", d.enabled),
            header=header,
            user_field=self.boolean(t, "sticky.user_field", d.user_field),
            switch_confidence=self.number(
                t, "sticky.switch_confidence", d.switch_confidence, low=0.0, high=1.0
            ),
            max_conversations=self.integer(t, "sticky.max_conversations", d.max_conversations),
            ttl_seconds=self.number(t, "sticky.ttl_seconds", d.ttl_seconds, low=1.0),
        )

    def experts(self, items: Any) -> dict[str, ExpertConfig]:
        if not isinstance(items, list) or not items:
            self.fail("no experts: add one [[experts]] table per expert (name, base_url, model)")
        experts: dict[str, ExpertConfig] = {}
        for i, t in enumerate(items):
            if not isinstance(t, Mapping):
                self.fail(f"experts[{i}] must be a table")
            expert = self.expert(t, f"experts[{i}]")
            if expert.name in experts:
                self.fail(f"two experts are named {expert.name!r}; names must be unique")
            experts[expert.name] = expert
        return experts

    def expert(self, t: Mapping[str, Any], at: str) -> ExpertConfig:
        self.keys(f"[[{at}]]", t, _EXPERT_KEYS)
        name = self.string(t, f"{at}.name", None)
        if name == ROUTED_MODEL:
            self.fail(f"{at}.name cannot be {ROUTED_MODEL!r}: that model name routes")
        base_url = self.string(t, f"{at}.base_url", None)
        if not base_url.startswith(("http://", "https://")):
            self.fail(f"{at}.base_url must start with http:// or https://, got {base_url!r}")
        price = t.get("price_per_1k_tokens")
        return ExpertConfig(
            name=name,
            base_url=base_url,
            model=self.string(t, f"{at}.model", name),
            api_key_env=self.name(t, f"{at}.api_key_env"),
            price_per_1k_tokens=None
            if price is None
            else self.number(t, f"{at}.price_per_1k_tokens", 0.0),
            timeout_seconds=self.number(t, f"{at}.timeout_seconds", 120.0, low=1e-3),
            max_retries=self.integer(t, f"{at}.max_retries", 0, low=0),
        )

    def policy(self, t: Any, experts: Mapping[str, ExpertConfig]) -> RoutingPolicy | None:
        if t is None:
            return None
        if not isinstance(t, Mapping):
            self.fail("[policy] must be a table of RoutingPolicy fields (lam, threshold, ...)")
        try:
            policy = RoutingPolicy.from_dict(t)
        except (TypeError, ValueError) as e:
            self.fail(f"[policy]: {e}")
        if policy.default is not None and policy.default not in experts:
            self.fail(f"policy.default {policy.default!r} is not one of the experts")
        return policy

    # ------------------------------------------------------------------ values
    def table(self, data: Mapping[str, Any], key: str, *, required: bool = False) -> Any:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(f"no [{key}] table; it is required")
            return {}
        if not isinstance(value, Mapping):
            self.fail(f"{key} must be a table ([{key}])")
        return value

    def keys(self, what: str, t: Mapping[str, Any], known: set[str]) -> None:
        unknown = sorted(set(t) - known)
        if unknown:
            self.fail(f"unknown key(s) {unknown} in {what}; known: {sorted(known)}")

    def string(self, t: Mapping[str, Any], key: str, default: str | None) -> str:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if value is None:
            self.fail(f"{key} is required")
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{key} must be a non-empty string, got {value!r}")
        return value

    def name(self, t: Mapping[str, Any], key: str) -> str | None:
        """An optional environment variable name."""
        value = t.get(key.rsplit(".", 1)[-1])
        if value is None:
            return None
        if not isinstance(value, str) or not value.replace("_", "a").isalnum():
            self.fail(f"{key} must name an environment variable (the name, not the value)")
        return value

    def number(
        self,
        t: Mapping[str, Any],
        key: str,
        default: float,
        *,
        low: float = 0.0,
        high: float = math.inf,
    ) -> float:
        value = t.get(key.rsplit(".", 1)[-1], default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not low <= value <= high:
            self.fail(f"{key} must be a number in [{low}, {high}], got {value!r}")
        return float(value)

    def integer(
        self, t: Mapping[str, Any], key: str, default: int, *, low: int = 1, high: int | None = None
    ) -> int:
        value = t.get(key.rsplit(".", 1)[-1], default)
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or value < low or (high is not None and value > high):
            bound = f"≥ {low}" if high is None else f"in [{low}, {high}]"
            self.fail(f"{key} must be an integer {bound}, got {value!r}")
        return int(value)

    def boolean(self, t: Mapping[str, Any], key: str, default: bool) -> bool:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            self.fail(f"{key} must be true or false, got {value!r}")
        return value

    def path(self, t: Mapping[str, Any], key: str, *, required: bool = False) -> Path | None:
        value = t.get(key.rsplit(".", 1)[-1])
        if value is None and not required:
            return None
        path = Path(self.string(t, key, None)).expanduser()
        return path if path.is_absolute() else self.base / path

    def fail(self, message: str) -> NoReturn:
        msg = f"{self.where}{message}"
        raise ConfigError(msg)
