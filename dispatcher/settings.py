"""Configuration, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(Exception):
    """A required variable is missing or a value cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = field(default=None, repr=False)
    tz: str = "Asia/Shanghai"
    #: detections from cameras, drones and sensors at or above this confidence are
    #: dispatched without an operator (a category may set its own threshold)
    auto_dispatch_confidence: float = 0.85
    #: how long intake waits to gather several incidents into one transaction
    group_commit_ms: float = 2.0
    #: a point closer than this to the edge of its street zone is flagged for the operator
    border_margin_m: float = 30.0
    #: bounded send queue of each WebSocket connection (events); beyond it the client is dropped
    ws_queue_size: int = 2048
    ws_heartbeat_s: float = 20.0
    max_body_bytes: int = 1024 * 1024

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def __repr__(self) -> str:
        return (
            f"Settings(database_url='***', redis_url='***', host={self.host!r}, "
            f"port={self.port}, admin_token={'***' if self.admin_token else None}, tz={self.tz!r})"
        )


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set; `dispatch serve` needs it")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of CONTRACT §1; raise ``ConfigError`` naming the first bad variable."""
    env = os.environ if env is None else env
    tz = env.get("DISPATCH_TZ", "Asia/Shanghai").strip() or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"DISPATCH_TZ={tz!r} is not a known time zone") from exc
    port = _number(env, "DISPATCH_PORT", 8080)
    if not port.is_integer() or not 0 <= port <= 65535:
        raise ConfigError(f"DISPATCH_PORT={env.get('DISPATCH_PORT')!r} is not a port number")
    return Settings(
        database_url=_require(env, "DISPATCH_DATABASE_URL"),
        redis_url=_require(env, "DISPATCH_REDIS_URL"),
        host=env.get("DISPATCH_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=int(port),
        admin_token=(env.get("DISPATCH_ADMIN_TOKEN") or "").strip() or None,
        tz=tz,
        auto_dispatch_confidence=_number(env, "DISPATCH_AUTO_CONFIDENCE", 0.85),
        group_commit_ms=_number(env, "DISPATCH_GROUP_COMMIT_MS", 2.0),
        border_margin_m=_number(env, "DISPATCH_BORDER_MARGIN_M", 30.0),
    )
