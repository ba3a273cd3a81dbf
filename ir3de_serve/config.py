"""The gateway's configuration: one TOML file, the operator's, validated before anything starts.

The config is trusted (it names hosts, credential variables and paths); the router folder it
points at is not (it is loaded as data, see docs/security.md). Relative paths are read from the
config file's folder. Every table refuses unknown keys, so a typo is an error, not a default.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ir3de_core._optional import require
from ir3de_core.decide.policy import SWITCH_CONFIDENCE, RoutingPolicy
from ir3de_core.exceptions import IR3DEError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = require("tomli", "serve")

__all__ = [
    "ConfigError",
    "ExpertConfig",
    "FeedbackConfig",
    "GatewayConfig",
    "RouterConfig",
    "ServerConfig",
    "ShadowConfig",
    "StickyConfig",
    "load_config",
    "parse_config",
]

ROUTED_MODEL = "ir3de"


class ConfigError(IR3DEError, ValueError):
    """The gateway's config is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class ExpertConfig:
    """One upstream expert (``[[experts]]``).

    Attributes:
        name: the router's name for the expert (and the ``model`` clients may name directly).
        base_url: its OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8001/v1``.
        model: the model name sent upstream (default: `name`).
        api_key_env: the *name* of the environment variable holding its key (None: no key).
        price_per_1k_tokens: its price per 1,000 tokens (all experts priced, or none).
        timeout_seconds: how long one upstream call may take.
        max_retries: the `openai` client's own retries (0: the gateway falls back instead).
    """

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    price_per_1k_tokens: float | None = None
    timeout_seconds: float = 120.0
    max_retries: int = 0

    def api_key(self) -> str:
        """The expert's key, read from `api_key_env` now ("none" when it needs no key)."""
        if self.api_key_env is None:
            return "none"
        return os.environ[self.api_key_env]


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: where the gateway listens and how it treats requests.

    Attributes:
        host: the interface to bind (loopback unless told otherwise).
        port: the TCP port.
        api_key_env: the name of the variable holding the key clients must send as
            ``Authorization: Bearer <key>`` (None: no key asked; required off loopback). It may
            hold several keys separated by commas, one per client.
        admin_key_env: the variable holding the feedback/admin keys (comma-separated):
            ``/v1/feedback``, ``/metrics`` and the full ``/healthz`` (None: the chat keys).
        max_n: the largest ``n`` (choices per request) passed upstream.
        max_messages: the most messages one request may hold.
        log_max_bytes: a decision or feedback log is rotated (to ``<name>.1``) at this size.
        max_request_bytes: larger request bodies are refused with 413.
        max_attempts: experts tried per request, the first included (fallback on transient
            upstream failures).
        cooldown_seconds: an expert that failed transiently is left out of routing this long.
        log_prompts: write prompts into the feedback and decision logs (never by default).
        decision_log: a JSONL file with one line per answered request (None: no log).
        access_log: uvicorn's access log (method, path, status; never bodies).
        workers: uvicorn worker processes (more than 1 needs ``[feedback] shared_log``, or
            feedback turned off: the workers learn from every event through the shared log).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    api_key_env: str | None = None
    admin_key_env: str | None = None
    max_request_bytes: int = 4 << 20
    max_n: int = 8
    max_messages: int = 1000
    log_max_bytes: int = 100 << 20
    max_attempts: int = 2
    cooldown_seconds: float = 5.0
    log_prompts: bool = False
    decision_log: Path | None = None
    access_log: bool = True
    workers: int = 1


@dataclass(frozen=True)
class RouterConfig:
    """``[router]``: the router folder (untrusted data) and how it is loaded and reloaded.

    Attributes:
        path: the folder written by ``router.save`` / ``ir3de fit``.
        featurizer_options: what only the caller decides for the featurizer (an ``openai``
            featurizer's ``base_url``, a local model directory, ...; docs/security.md).
        signing_key_env: the name of the variable holding the HMAC key the router must be
            signed with (and that gateway saves are signed with); None: unsigned.
        reload_seconds: how often the folder is checked for a new router (0: never).
        versions: where named router versions are kept (None: ``<path>.versions``).
    """

    path: Path
    featurizer_options: dict[str, Any] | None = None
    signing_key_env: str | None = None
    reload_seconds: float = 2.0
    versions: Path | None = None

    def signing_key(self) -> bytes | None:
        """The signing key, read from `signing_key_env` now."""
        return None if self.signing_key_env is None else os.environ[self.signing_key_env].encode()


@dataclass(frozen=True)
class FeedbackConfig:
    """``[feedback]``: folding observed scores into the router, logging and saving them.

    Attributes:
        enabled: accept ``POST /v1/feedback``.
        log: a JSONL file each feedback event is appended to (None: no log). With
            `ServerConfig.log_prompts` its lines are training records (``prompt``, ``scores``).
        save_to: the folder the learning router is saved to, atomically (default: the router
            folder; None via ``save = false``: never saved).
        save_every_events: save after this many new events.
        save_every_seconds: save unsaved events at least this often.
        window_seconds: how long a completion accepts feedback.
        max_pending: completions remembered for feedback (the oldest are forgotten first).
        max_pending_bytes: bytes of routed text remembered for feedback, at most.
        score_range: the scores accepted, ``(low, high)`` (None: the range seen in training).
        key_share: one key's events weigh at most this share of the router's rows at start.
        event_novelty: one event's influence ``w·h(x)`` is at most that of a weight-1 row this
            many times as novel as a typical training row, ``(1 + df·event_novelty)/W``; a
            more novel prompt's event is folded with its weight scaled down to that.
        key_influence: one key's events on one expert carry together at most this influence
            ``Σ w·h`` (None: ``key_share × (1 + df)``, the key's share of the influence the
            training rows carry). See docs/security.md.
        key_rate_per_minute: feedback events one key may send per minute.
        shared_log: the durable log shared by replicas (None: none, this gateway folds only
            its own events): ``sqlite:///<file>`` or ``postgresql://user@host:port/db``
            (`ir3de_serve.sharedlog.normalize_log_url`; relative SQLite paths made absolute).
        shared_log_password_env: the variable holding the PostgreSQL password.
        shared_log_poll_seconds: how often the log is read for other replicas' events.
    """

    enabled: bool = True
    log: Path | None = None
    save_to: Path | None = None
    save_every_events: int = 100
    save_every_seconds: float = 60.0
    window_seconds: float = 3600.0
    max_pending: int = 100_000
    max_pending_bytes: int = 256 << 20
    score_range: tuple[float, float] | None = None
    key_share: float = 0.02
    event_novelty: float = 4.0
    key_influence: float | None = None
    key_rate_per_minute: float = 600.0
    shared_log: str | None = None
    shared_log_password_env: str | None = None
    shared_log_poll_seconds: float = 0.2


@dataclass(frozen=True)
class StickyConfig:
    """``[sticky]``: keeping a conversation on its expert (the adapters' rule).

    Attributes:
        enabled: keep conversations on their expert.
        header: the request header naming a conversation.
        user_field: without the header, the body's ``user`` field names the conversation.
        switch_confidence: a new turn moves to another expert only when the router picks it
            with at least this confidence (a tool loop always stays).
        max_conversations: conversations remembered (the oldest are forgotten first).
        ttl_seconds: a conversation idle this long is forgotten.
    """

    enabled: bool = True
    header: str = "x-ir3de-conversation"
    user_field: bool = True
    switch_confidence: float = SWITCH_CONFIDENCE
    max_conversations: int = 100_000
    ttl_seconds: float = 3600.0


@dataclass(frozen=True)
class ShadowConfig:
    """``[shadow]``: a candidate router that decides on every request but is never called.

    Attributes:
        router: the candidate's folder (untrusted data, loaded like ``[router] path``; None:
            no shadow at start, ``POST /admin/shadow`` can start one from a kept version).
        name: the version name the candidate is kept under when promoted (None: timestamp+hash).
        min_events: events with feedback before auto-promotion looks at the estimate.
        auto_promote: promote when both gains' lower bounds (SNIPS and DR) are above 0.
        check_every: auto-promotion looks again after this many new events.
        level, bootstrap, seed: the intervals' confidence level, resamples and seed.
        max_events: events kept for the estimate (the oldest are dropped first).
    """

    router: Path | None = None
    name: str | None = None
    min_events: int = 200
    auto_promote: bool = False
    check_every: int = 50
    level: float = 0.95
    bootstrap: int = 1000
    seed: int = 0
    max_events: int = 100_000


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway config (see `load_config` and docs/serving.md).

    Attributes:
        experts: the upstream experts, by name, in file order.
        router: the router folder and its loading.
        policy: the policy from ``[policy]`` (None: the router's saved policy); the experts'
            prices, when given, replace the policy's prices either way.
        server, feedback, sticky, shadow: the tables of the same names.
        source: the file the config was read from (None: built in code).
    """

    experts: dict[str, ExpertConfig]
    router: RouterConfig
    policy: RoutingPolicy | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    sticky: StickyConfig = field(default_factory=StickyConfig)
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    source: Path | None = None

    @property
    def prices(self) -> dict[str, float] | None:
        """Expert → price per 1k tokens, when every expert has one."""
        prices = {e.name: e.price_per_1k_tokens for e in self.experts.values()}
        if any(p is None for p in prices.values()):
            return None
        return {name: float(p) for name, p in prices.items() if p is not None}

    def resolve_policy(self, saved: RoutingPolicy) -> RoutingPolicy:
        """The policy in force: ``[policy]`` or the router's `saved` one, with the config's prices."""
        policy = self.policy if self.policy is not None else saved
        prices = self.prices
        if prices is None:
            return policy
        return policy.replace(prices=prices, price_unit="1k_tokens")

    def check_environment(self) -> None:
        """Every environment variable the config names is set (before the gateway starts)."""
        names = [(f"experts.{e.name}.api_key_env", e.api_key_env) for e in self.experts.values()]
        names += [
            ("server.api_key_env", self.server.api_key_env),
            ("server.admin_key_env", self.server.admin_key_env),
            ("router.signing_key_env", self.router.signing_key_env),
            ("feedback.shared_log_password_env", self.feedback.shared_log_password_env),
        ]
        missing = [f"{key} = {var!r}" for key, var in names if var and not os.environ.get(var)]
        if missing:
            msg = f"{self._where()}environment variable(s) not set: {', '.join(missing)}"
            raise ConfigError(msg)

    def _where(self) -> str:
        return f"{self.source}: " if self.source is not None else ""


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway config (TOML).

    Raises:
        ConfigError: the file cannot be read or parsed, or a key is missing, unknown or invalid.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        msg = f"cannot read the gateway config {path}: {e.strerror or e}"
        raise ConfigError(msg) from e
    except tomllib.TOMLDecodeError as e:
        msg = f"{path} is not valid TOML: {e}"
        raise ConfigError(msg) from e
    return parse_config(data, base=path.parent, source=path)


def parse_config(
    data: Mapping[str, Any], *, base: Path | None = None, source: Path | None = None
) -> GatewayConfig:
    """Validate a config given as a mapping (the parsed TOML); relative paths join `base`."""
    from ir3de_serve.config_tables import TableReader

    where = f"{source}: " if source is not None else ""
    reader = TableReader(base or Path.cwd(), where)
    reader.keys(
        "the config",
        data,
        {"server", "router", "policy", "feedback", "sticky", "shadow", "experts"},
    )
    router = reader.router(reader.table(data, "router", required=True))
    feedback = reader.feedback(reader.table(data, "feedback"), router.path)
    experts = reader.experts(data.get("experts"))
    policy = reader.policy(data.get("policy"), experts)
    config = GatewayConfig(
        experts=experts,
        router=router,
        policy=policy,
        server=reader.server(reader.table(data, "server")),
        feedback=feedback,
        sticky=reader.sticky(reader.table(data, "sticky")),
        shadow=reader.shadow(reader.table(data, "shadow")),
        source=source,
    )
    if config.prices is None and any(e.price_per_1k_tokens is not None for e in experts.values()):
        msg = f"{where}give price_per_1k_tokens to every expert or to none"
        raise ConfigError(msg)
    return config
