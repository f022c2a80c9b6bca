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
    #: reports of one category close in place and time join the open incident (dedup)
    dedup: bool = True
    #: repeat complaints (重复诉件): this many complaints of one place and category ...
    repeat_threshold: int = 3
    #: ... within this many days
    repeat_window_days: float = 30.0
    #: each device (a device token, and each ``device_id`` it names) may post this many
    #: reports a second on average, in bursts of ``device_burst``; 0 turns the limit off
    device_rate_per_s: float = 50.0
    device_burst: int = 100
    #: where the 12345 hotline platform takes status updates of its work orders (Open311)
    hotline_callback_url: str | None = field(default=None, repr=False)
    #: a bearer token sent with each update, if the hotline platform wants one
    hotline_callback_token: str | None = field(default=None, repr=False)
    #: how often the outbox looks for updates to deliver, and its retry back-off bounds
    outbox_poll_s: float = 1.0
    outbox_retry_base_s: float = 1.0
    outbox_retry_max_s: float = 300.0
    #: open incidents this close together are offered to a squad as one visit (综合查一次)
    visit_radius_m: float = 30.0
    #: the Open311 jurisdiction_id this server answers for; None accepts any
    open311_jurisdiction_id: str | None = None
    #: failed authentications one address may make in a minute before it gets 429
    auth_failures_per_minute: int = 20
    #: behind a load balancer, take the client's address from X-Forwarded-For
    trust_forwarded: bool = False
    #: a unit's position older than this (seconds) is stale: not used to recommend it
    position_stale_s: float = 300.0
    #: each open incident a unit holds counts as this many metres more when ranking units
    load_penalty_m: float = 300.0
    #: consoles get a unit's ``unit.moved`` at most once in this many seconds ...
    unit_moved_interval_s: float = 2.0
    #: ... and at most this many ``unit.moved`` a second in all, from each process
    unit_moved_max_per_s: float = 200.0
    #: the largest body of ``PUT /api/v1/zones`` (a district's real zones exceed 1 MiB);
    #: every other route keeps ``max_body_bytes``
    zones_max_body_bytes: int = 64 * 1024 * 1024

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


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "on", "true", "yes"}:
        return True
    if raw in {"0", "off", "false", "no"}:
        return False
    raise ConfigError(f"{name}={env.get(name)!r} is neither on nor off")


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of docs/API.md §1; raise ``ConfigError`` naming the first bad variable."""
    env = os.environ if env is None else env
    tz = env.get("DISPATCH_TZ", "Asia/Shanghai").strip() or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"DISPATCH_TZ={tz!r} is not a known time zone") from exc
    port = _number(env, "DISPATCH_PORT", 8080.0)
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
        dedup=_switch(env, "DISPATCH_DEDUP", True),
        repeat_threshold=int(_number(env, "DISPATCH_REPEAT_THRESHOLD", 3)),
        repeat_window_days=_number(env, "DISPATCH_REPEAT_WINDOW_DAYS", 30.0),
        device_rate_per_s=_number(env, "DISPATCH_DEVICE_RATE", 50.0),
        device_burst=int(_number(env, "DISPATCH_DEVICE_BURST", 100)),
        hotline_callback_url=(env.get("DISPATCH_HOTLINE_CALLBACK_URL") or "").strip() or None,
        hotline_callback_token=(env.get("DISPATCH_HOTLINE_CALLBACK_TOKEN") or "").strip() or None,
        outbox_poll_s=_number(env, "DISPATCH_OUTBOX_POLL_S", 1.0),
        visit_radius_m=_number(env, "DISPATCH_VISIT_RADIUS_M", 30.0),
        open311_jurisdiction_id=(env.get("DISPATCH_OPEN311_JURISDICTION") or "").strip() or None,
        auth_failures_per_minute=int(_number(env, "DISPATCH_AUTH_FAILURES_PER_MINUTE", 20)),
        trust_forwarded=env.get("DISPATCH_TRUST_FORWARDED", "").strip().lower()
        in {"1", "true", "yes"},
        position_stale_s=_number(env, "DISPATCH_POSITION_STALE_S", 300.0),
        load_penalty_m=_number(env, "DISPATCH_LOAD_PENALTY_M", 300.0),
        unit_moved_interval_s=_number(env, "DISPATCH_UNIT_MOVED_INTERVAL_S", 2.0),
        unit_moved_max_per_s=_number(env, "DISPATCH_UNIT_MOVED_MAX_PER_S", 200.0),
        ws_queue_size=int(_at_least_one(env, "DISPATCH_WS_QUEUE_SIZE", 2048)),
        ws_heartbeat_s=_at_least_one(env, "DISPATCH_WS_HEARTBEAT_S", 20.0),
    )


def _at_least_one(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if not value >= 1:
        raise ConfigError(f"{name}={env.get(name)!r} must be at least 1")
    return value
