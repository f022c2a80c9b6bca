"""Configuration, read once from the environment into a frozen object.

:class:`Settings` is the one table of the variables: each field declared with :func:`variable`
names its variable, its default (written nowhere else), what it accepts and what it means.
:func:`from_env` reads every variable once and checks it; nothing else reads the environment.
``docs/DEPLOY.md`` lists the same table, and a unit test keeps the two equal:
``python -m dispatcher.settings`` prints the rows it must have.

To add a variable, add a field with :func:`variable` (a kind of :mod:`dispatcher.setting_kinds`, or
:class:`Parser` around a function of your own and its inverse), then its row to the table in
docs/DEPLOY.md and its default to ``DEFAULTS`` in tests/unit/test_settings.py.

An unset or empty variable means its default. Errors::

    ConfigError   a required variable is not set, or a value is not accepted (the message
                  names the variable, the value unless it is secret, and what is accepted)
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar, dataclass_transform
from zoneinfo import ZoneInfo

from dispatcher.setting_kinds import (
    CLOCK_KINDS,
    REQUEST_TYPES,
    SCORED_RATES,
    STAGES,
    SUPERVISION_KINDS,
    TIERS,
    ConfigError,
    Folder,
    HotlineLimits,
    Kind,
    Number,
    Parser,
    ScoreWeights,
    SeasonalWindows,
    StageLimitsSetting,
    SupervisionDays,
    Switch,
    Text,
    Thresholds,
    TimeZone,
    Whole,
    WorkWindows,
)

T = TypeVar("T")

#: the fields ``dispatch serve`` cannot start without
SERVE: Final = ("database_url", "redis_url")
#: where a field keeps its :class:`Variable`
_VARIABLE: Final = "variable"
_MASK: Final = "***"


@dataclass(frozen=True)
class Variable:
    """How one field of :class:`Settings` is read: from ``name``, as ``kind`` says."""

    name: str
    kind: Kind[Any]
    meaning: str
    secret: bool = False

    def read(self, raw: str) -> Any:
        try:
            return self.kind.parse(raw)
        except ValueError:
            shown = _MASK if self.secret else repr(raw)
            raise ConfigError(
                f"{self.name}={shown} is not accepted: {self.kind.accepted}"
            ) from None


def variable(
    name: str, kind: Kind[Any], meaning: str, *, default: Any = MISSING, secret: bool = False
) -> Any:
    """A field of :class:`Settings` read from ``name``; without ``default`` it is required."""
    return field(
        default=default,
        repr=not secret,
        metadata={_VARIABLE: Variable(name, kind, meaning, secret)},
    )


def _departments(raw: str) -> tuple[tuple[str, str], ...]:
    """``code:名称,...`` as (code, name) pairs; raise ValueError."""
    found: dict[str, str] = {}
    for item in raw.split(","):
        code, sep, name = (part.strip() for part in item.partition(":"))
        if not item.strip():
            continue
        if not sep or not code or not name or any(c.isspace() for c in code) or code in found:
            raise ValueError(f"{item.strip()!r}: each department once, as code:名称")
        found[code] = name
    return tuple(found.items())


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``CIDR,CIDR,...`` as networks (a bare address is its own /32 or /128); raise ValueError."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


def _audit_key(raw: str) -> str:
    """A checkpoint key: at least 32 characters (HMAC-SHA256 wants 32 bytes of entropy)."""
    if len(raw) < 32:
        raise ValueError("too short")
    return raw


@dataclass_transform(frozen_default=True, field_specifiers=(variable, field))
def _table(cls: type[T]) -> type[T]:
    """``dataclass(frozen=True)``, telling type checkers that :func:`variable` makes fields."""
    return dataclass(frozen=True)(cls)


@_table
class Settings:
    database_url: str = variable(
        "DISPATCH_DATABASE_URL",
        Text("postgresql://user:password@host:port/db", ("postgresql", "postgres")),
        "the PostgreSQL database",
        secret=True,
    )
    redis_url: str = variable(
        "DISPATCH_REDIS_URL",
        Text(
            "redis://host:port/db (rediss:// for TLS, redis://:password@… with a password)",
            ("redis", "rediss", "unix"),
        ),
        "Redis, for fan-out between the servers, live positions and rate-limit counters",
        secret=True,
    )
    host: str = variable(
        "DISPATCH_HOST", Text("an address or host name"), "listen address", default="127.0.0.1"
    )
    port: int = variable("DISPATCH_PORT", Whole(0, 65535), "listen port", default=8080)
    admin_token: str | None = variable(
        "DISPATCH_ADMIN_TOKEN",
        Text(),
        "a bearer token with the `admin` role, accepted from start-up without being stored;"
        " unset, only tokens stored in the database work",
        default=None,
        secret=True,
    )
    tz: str = variable(
        "DISPATCH_TZ",
        TimeZone(),
        "zone of working-hour clocks and reports",
        default="Asia/Shanghai",
    )
    work_windows: WorkWindows = variable(
        "DISPATCH_WORK_WINDOWS",
        Parser(
            WorkWindows.parse,
            "working windows HH:MM-HH:MM separated by commas, in order, not overlapping",
        ),
        "the working windows of a workday, which the working-hours (工作时) and working-days"
        " (工作日) clocks count",
        default=WorkWindows.parse("08:00-12:00,14:00-18:00"),
    )
    work_windows_seasonal: SeasonalWindows | None = variable(
        "DISPATCH_WORK_WINDOWS_SEASONAL",
        Parser(
            SeasonalWindows.parse,
            "MM-DD..MM-DD=windows (as above), several separated by ;, not sharing a day,"
            " e.g. 05-01..09-30=08:00-12:00,14:30-18:00",
        ),
        "parts of every year with working windows of their own, such as summer hours"
        " (夏令作息); the other days keep `DISPATCH_WORK_WINDOWS`",
        default=None,
    )
    stage_limits_hotline: StageLimitsSetting = variable(
        "DISPATCH_STAGE_LIMITS_HOTLINE",
        Parser(
            StageLimitsSetting.parse,
            "stage=clock:limit separated by commas, each stage at most once; stages: "
            + ", ".join(STAGES)
            + "; clocks: "
            + ", ".join(CLOCK_KINDS)
            + "; limits above 0, in hours (days on working_days)",
        ),
        "the stage limits of 12345 hotline work orders (source `hotline`) where their category"
        " sets none of its own (`stage_limits`, docs/API.md §3); the stages left out keep"
        " CJ/T 315 practice (受理 and 派遣 15 min, 签收 and 核查 30 min, continuous). The"
        " default is 12345 practice: the 承办单位 signs for (签收) a work order within 1"
        " working day of its dispatch; it is a deployment's choice, not a national rule",
        default=StageLimitsSetting.parse("accept=working_days:1"),
    )
    auto_dispatch_confidence: float = variable(
        "DISPATCH_AUTO_CONFIDENCE",
        Number(0, 1),
        "detections from cameras, drones and sensors at or above this confidence are"
        " dispatched without an operator (a category may set its own threshold)",
        default=0.85,
    )
    group_commit_ms: float = variable(
        "DISPATCH_GROUP_COMMIT_MS",
        Number(0, 1000),
        "how long intake waits to gather several incidents into one transaction; each is"
        " answered only after its transaction commits",
        default=2.0,
    )
    border_margin_m: float = variable(
        "DISPATCH_BORDER_MARGIN_M",
        Number(0),
        "a point closer than this (metres) to the edge of its street zone is flagged for the"
        " operator",
        default=30.0,
    )
    zone_sliver_m2: float = variable(
        "DISPATCH_ZONE_SLIVER_M2",
        Number(0),
        "an overlap or gap between sibling zones at most this large (m²) is a sliver: accepted,"
        " reported, and points in it flagged near a border (about one building plot)",
        default=1000.0,
    )
    zone_sliver_width_m: float = variable(
        "DISPATCH_ZONE_SLIVER_WIDTH_M",
        Number(0),
        "an overlap or gap between sibling zones nowhere wider than this (metres) is a sliver"
        " too, however long (the width of a lane; more than a survey's or GCJ-02's error)",
        default=5.0,
    )
    ws_queue_size: int = variable(
        "DISPATCH_WS_QUEUE_SIZE",
        Whole(1),
        "events each WebSocket connection may have waiting to be sent; a client further behind"
        " is dropped (close 1013) and reconnects with `since`",
        default=2048,
    )
    ws_heartbeat_s: float = variable(
        "DISPATCH_WS_HEARTBEAT_S",
        Number(1),
        "seconds between the server's pings on each WebSocket; a client that has not answered"
        " half that long after a ping is closed",
        default=20.0,
    )
    dedup: bool = variable(
        "DISPATCH_DEDUP",
        Switch(),
        "reports of one category close in place and time join the open incident",
        default=True,
    )
    repeat_threshold: int = variable(
        "DISPATCH_REPEAT_THRESHOLD",
        Whole(2),
        "repeat complaints (重复诉件): this many complaints of one place and category ...",
        default=3,
    )
    repeat_window_days: float = variable(
        "DISPATCH_REPEAT_WINDOW_DAYS",
        Number(0, above=True),
        "... within this many days",
        default=30.0,
    )
    device_rate_per_s: float = variable(
        "DISPATCH_DEVICE_RATE",
        Number(0),
        "reports a second each device (a device token, and each `device_id` it names) may"
        " post on average; `0` turns the limit off",
        default=50.0,
    )
    device_burst: int = variable(
        "DISPATCH_DEVICE_BURST", Whole(1), "... in bursts of this many", default=100
    )
    hotline_callback_url: str | None = variable(
        "DISPATCH_HOTLINE_CALLBACK_URL",
        Text("an http:// or https:// URL", ("http", "https")),
        "where the 12345 hotline platform takes status updates of its work orders (Open311);"
        " the servers need to reach it; unset, no updates are sent",
        default=None,
        secret=True,
    )
    hotline_callback_token: str | None = variable(
        "DISPATCH_HOTLINE_CALLBACK_TOKEN",
        Text(),
        "a bearer token sent with each of those updates",
        default=None,
        secret=True,
    )
    outbox_poll_s: float = variable(
        "DISPATCH_OUTBOX_POLL_S",
        Number(0, above=True),
        "how often the outbox looks for updates to deliver (seconds)",
        default=1.0,
    )
    outbox_retry_base_s: float = variable(
        "DISPATCH_OUTBOX_RETRY_BASE_S",
        Number(0, above=True),
        "the first wait (seconds) before an update the hotline platform refused is sent again;"
        " it doubles with each failure ...",
        default=1.0,
    )
    outbox_retry_max_s: float = variable(
        "DISPATCH_OUTBOX_RETRY_MAX_S",
        Number(0, above=True),
        "... up to this many seconds (not below `DISPATCH_OUTBOX_RETRY_BASE_S`)",
        default=300.0,
    )
    visit_radius_m: float = variable(
        "DISPATCH_VISIT_RADIUS_M",
        Number(0),
        "open incidents this close together (metres) are offered to a squad as one trip"
        " (顺路处置; not 综合查一次, a combined inspection)",
        default=30.0,
    )
    open311_jurisdiction_id: str | None = variable(
        "DISPATCH_OPEN311_JURISDICTION",
        Text(),
        "the Open311 `jurisdiction_id` this server answers for; unset, any",
        default=None,
    )
    auth_failures_per_minute: int = variable(
        "DISPATCH_AUTH_FAILURES_PER_MINUTE",
        Whole(1),
        "failed authentications one client address may make in a minute; beyond it every"
        " request from that address answers 429 until a minute after its first failure",
        default=20,
    )
    session_hours: float = variable(
        "DISPATCH_SESSION_HOURS",
        Number(0.1),
        "how long a person stays signed in to the pages (hours; a shift, by default)",
        default=12.0,
    )
    camera_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = variable(
        "DISPATCH_CAMERA_NETWORKS",
        Parser(
            _networks,
            "CIDR networks separated by commas, e.g. 10.20.0.0/16,172.16.8.0/24",
            lambda nets: ",".join(str(n) for n in nets),
        ),
        "the networks (the video private network) whose cameras may post alerts to the alarm"
        " host `POST /isapi/alarm`; others are answered 403. Unset: alerts are taken from nowhere",
        default=None,
    )
    trust_forwarded: bool = variable(
        "DISPATCH_TRUST_FORWARDED",
        Switch(),
        "take the client's address from the first `X-Forwarded-For` entry (for the limit"
        " above); only where a proxy that replaces that header is the only way in",
        default=False,
    )
    position_stale_s: float = variable(
        "DISPATCH_POSITION_STALE_S",
        Number(0, above=True),
        "a unit's position older than this (seconds) is stale: not used to recommend the unit",
        default=300.0,
    )
    load_penalty_m: float = variable(
        "DISPATCH_LOAD_PENALTY_M",
        Number(0),
        "each open incident a unit holds counts as this many metres more when ranking units",
        default=300.0,
    )
    unit_moved_interval_s: float = variable(
        "DISPATCH_UNIT_MOVED_INTERVAL_S",
        Number(0),
        "consoles get a unit's `unit.moved` at most once in this many seconds ...",
        default=2.0,
    )
    unit_moved_max_per_s: float = variable(
        "DISPATCH_UNIT_MOVED_MAX_PER_S",
        Number(0, above=True),
        "... and at most this many `unit.moved` a second in all, from each process",
        default=200.0,
    )
    media_dir: Path = variable(
        "DISPATCH_MEDIA_DIR",
        Folder(),
        "folder of incident photos (relative: to the working folder)",
        default=Path(".data/media"),
    )
    media_max_bytes: int = variable(
        "DISPATCH_MEDIA_MAX_BYTES",
        Whole(1),
        "largest photo accepted (413 above it)",
        default=10 * 1024 * 1024,
    )
    audit_key: str | None = variable(
        "DISPATCH_AUDIT_KEY",
        Parser(
            _audit_key,
            "text of at least 32 characters, e.g. from"
            " python3 -c 'import secrets; print(secrets.token_hex(32))'",
        ),
        "the HMAC-SHA256 key that signs the history's checkpoints (`dispatch audit checkpoint`,"
        " `audit verify --checkpoint`); keep it away from the database's administrators",
        default=None,
        secret=True,
    )
    audit_checkpoint_file: Path | None = variable(
        "DISPATCH_AUDIT_CHECKPOINT_FILE",
        Parser(Path, "a file path (JSON lines, only ever appended to)"),
        "where each server appends a signed checkpoint of the history's head every"
        " DISPATCH_AUDIT_CHECKPOINT_MINUTES (needs DISPATCH_AUDIT_KEY). Unset: none but"
        " `dispatch audit checkpoint`'s",
        default=None,
    )
    audit_checkpoint_minutes: float = variable(
        "DISPATCH_AUDIT_CHECKPOINT_MINUTES",
        Number(0, above=True),
        "how often a server writes that checkpoint (minutes)",
        default=60.0,
    )
    metrics_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = variable(
        "DISPATCH_METRICS_NETWORKS",
        Parser(
            _networks,
            "CIDR networks separated by commas, e.g. 10.89.0.0/24,fd00:89::/64",
            lambda nets: ",".join(str(n) for n in nets),
        ),
        "the networks of the Prometheus hosts that may read `GET /metrics`, besides loopback"
        " (the TCP peer's address, never a forwarded one); others are answered 403. Unset:"
        " loopback only",
        default=None,
    )
    score_weights: ScoreWeights = variable(
        "DISPATCH_SCORE_WEIGHTS",
        Parser(
            ScoreWeights.parse,
            "rate:weight pairs separated by commas, each rate at most once, weights ≥ 0 and"
            " not all 0; rates: " + ", ".join(SCORED_RATES),
        ),
        "the weights of the 综合指标值 in `/api/v1/stats` and the monthly report, where a"
        " request names none (docs/API.md §7); rates left out weigh 0. No national standard"
        " fixes them: each city or district sets its own in its evaluation rules (考评办法)."
        " The default is the scheme this project has shipped since its first figures (处置率"
        " 30, 按期处置率 20, 返工率 20, 超期未处置率 20, 延期率 10); its source was not"
        " recorded, so set the deployment's own",
        default=ScoreWeights.parse(
            "disposal_rate:30,on_time_rate:20,rework_rate:20,overdue_open_rate:20,extension_rate:10"
        ),
    )
    hotline_limits: HotlineLimits = variable(
        "DISPATCH_HOTLINE_LIMITS",
        Parser(
            HotlineLimits.parse,
            "type:working-days pairs separated by commas, every type once, each above 0 and at"
            " most 366; types: " + ", ".join(REQUEST_TYPES),
        ),
        "the case limit of a 12345 hotline work order by its request type (诉求类型: 咨询"
        " consult, 求助 help, 投诉 complaint, 建议 suggestion, 举报 report), in working days,"
        " where its category has no hotline limit of its own (docs/API.md §5). The default is"
        " 12345 practice as hotlines publish it (咨询 2–3 working days, 求助 5, 投诉 and 建议 up"
        " to 13, 举报 as 投诉); it is a deployment's choice, not a national rule (Beijing's"
        " 接诉即办, for one, answers by response levels of 2 h, 24 h, 7 and 15 days)",
        default=HotlineLimits.parse("consult:3,help:5,complaint:13,suggestion:13,report:13"),
    )
    hotline_contact_hours: float = variable(
        "DISPATCH_HOTLINE_CONTACT_HOURS",
        Number(0, 24 * 30),
        "the contact deadline (联系时限) of a 12345 work order whose platform set none: the"
        " caller is to be contacted (联系诉求人) within this many working hours of receipt"
        " (docs/API.md §5.3). The default, 2, is the first of Beijing's 接诉即办 response levels"
        " (2 h) as issue 16 proposes it; hotlines that answer a general request within a"
        " working day set 8. A deployment's choice, not a national rule",
        default=2.0,
    )
    hotline_sendback_hours: float = variable(
        "DISPATCH_HOTLINE_SENDBACK_HOURS",
        Number(0, 24 * 30),
        "the 退单 window: a 12345 work order may be sent back to the platform (e.g. 非本部门职责)"
        " only within this many working hours of receipt, asked and approved (docs/API.md"
        " §5.3). The default, 8 (one working day of the default working windows), is the"
        " window hotlines commonly publish for 退单 (within 1 working day of receipt); set the"
        " platform's own",
        default=8.0,
    )
    hotline_basically_satisfied: bool = variable(
        "DISPATCH_HOTLINE_BASICALLY_SATISFIED",
        Switch(),
        "whether a 回访's 基本满意 counts toward 满意率 as 满意 does (满意率 = (满意 + 基本满意)"
        " ÷ 回访数, as 12345 hotlines mostly publish it); `false` counts 满意 only. A"
        " deployment's choice: evaluation rules (考评办法) differ",
        default=True,
    )
    escalation_step: float = variable(
        "DISPATCH_ESCALATION_STEP",
        Number(0, 10, above=True),
        "逐级督办: an overdue case is told to its squad's parent tier at once, then to the next"
        " tier up each time it is late by this much more, as a share of its limit, counted on"
        " its own clock (working time on the working clocks), until the top tier is told;"
        " `0.5`: the 大队 at red, the 支队 at +50%",
        default=0.5,
    )
    thresholds: Thresholds = variable(
        "DISPATCH_THRESHOLDS",
        Parser(
            Thresholds.parse,
            "[tier:]rate>=N% or [tier:]rate<=N% separated by commas, N from 0 to 100, a rate"
            " at most once per tier; tiers: "
            + ", ".join(TIERS)
            + "; rates: "
            + ", ".join(SCORED_RATES),
        ),
        "the thresholds of the figures (考核指标阈值) that `/api/v1/thresholds/breaches` checks"
        " each tier against (docs/API.md §7); an entry with a tier overrides the others for"
        " that tier. No national standard fixes them: each bureau sets its own (考评办法)."
        " The default is this project's reading of that practice, not a cited rule; published"
        " figures run higher (Fuzhou 2024 Q1: 结案率 99.99%, 按期结案率 over 96% for every"
        " unit, 返工率 0.05%), so set the deployment's own",
        default=Thresholds.parse(
            "disposal_rate>=98%,on_time_rate>=95%,close_rate>=95%,rework_rate<=5%"
        ),
    )
    breach_min_cases: int = variable(
        "DISPATCH_BREACH_MIN_CASES",
        Whole(1),
        "a breach of a threshold in the month so far opens a supervision item (督办单) for the"
        " squad once the rate counts at least this many cases (a month's first few cases say"
        " nothing of a squad)",
        default=20,
    )
    breach_check_minutes: float = variable(
        "DISPATCH_BREACH_CHECK_MINUTES",
        Number(0),
        "how often the month so far is judged against the thresholds (minutes); `0`: never"
        " (the breaches are then only shown by `/api/v1/thresholds/breaches`)",
        default=60.0,
    )
    supervision_days: SupervisionDays = variable(
        "DISPATCH_SUPERVISION_DAYS",
        Parser(
            SupervisionDays.parse,
            "kind:working-days pairs separated by commas, every kind once, each above 0 and at"
            " most 366; kinds: " + ", ".join(SUPERVISION_KINDS),
        ),
        "the working days a supervision item (督办单) allows by its kind when it is opened"
        " without a deadline (docs/API.md §12). 信访 40: within the 60 days of 《信访工作条例》"
        " (2022) art. 32; 人大建议/政协提案 60: about the three months in which proposals are"
        " answered; 领导批示 5, 媒体曝光 3, 环保督察 5, 上级交办 5, internal 5: local practice as"
        " centres publish it, not a national rule: a deployment's choice",
        default=SupervisionDays.parse(
            "leader_instruction:5,media:3,environmental_inspection:5,petition:40,"
            "deputies_proposal:60,assigned_by_superior:5,internal:5"
        ),
    )
    case_number_prefix: str = variable(
        "DISPATCH_CASE_NUMBER_PREFIX",
        Text("the bureau's short name, e.g. 某区城管"),
        "the short name of the bureau that begins an enforcement case's number:"
        " `{prefix}罚〔{year}〕{serial}号`, the serial counted from 1 each year (docs/API.md §14)",
        default="城管",
    )
    case_filing_days: float = variable(
        "DISPATCH_CASE_FILING_DAYS",
        Number(0, 366, above=True),
        "the 立案 limit of an enforcement case: natural days from the discovery of its 案源 to"
        " 立案 (立案超期 past it). 15: 《住房和城乡建设行政处罚程序规定》 (住建部令第55号, 2022)"
        " has a lead checked within 15 days and filed if it holds; 市场监管 counts 15 working days",
        default=15.0,
    )
    case_decision_days: float = variable(
        "DISPATCH_CASE_DECISION_DAYS",
        Number(0, 3650, above=True),
        "the 结案 limit of a general-procedure (普通程序) case: natural days from 立案 to the"
        " decision (结案超期 past it). 90: 《行政处罚法》 (2021) 第60条",
        default=90.0,
    )
    case_extension_days: float = variable(
        "DISPATCH_CASE_EXTENSION_DAYS",
        Number(0, 366, above=True),
        "the natural days an approved extension (延期, 负责人批准) adds to a case's 结案 limit"
        " when the step names none. 30: 住建部令第55号 and 《市场监督管理行政处罚程序规定》",
        default=30.0,
    )
    case_statement_days: float = variable(
        "DISPATCH_CASE_STATEMENT_DAYS",
        Number(0, 60, above=True),
        "working days after 告知 in which the party may state its case and ask for a hearing"
        " (陈述申辩, 听证); a decision before then needs the party's waiver. 5: 《行政处罚法》"
        " 第64条 (听证 asked for within 5 days), working days by 第85条",
        default=5.0,
    )
    case_document_max_bytes: int = variable(
        "DISPATCH_CASE_DOCUMENT_MAX_BYTES",
        Whole(1),
        "largest file of an enforcement case (photo, PDF, recorder audio or video) accepted,"
        " streamed to disk while hashed (413 above it)",
        default=1024 * 1024 * 1024,
    )
    case_camera_confidence: float = variable(
        "DISPATCH_CASE_CAMERA_CONFIDENCE",
        Number(0, 1),
        "a camera detection (source `camera`) opens an off-site case (非现场执法) only at or"
        " above this confidence, and only with its images",
        default=0.9,
    )
    departments: tuple[tuple[str, str], ...] = variable(
        "DISPATCH_DEPARTMENTS",
        Parser(
            _departments,
            "code:名称 pairs separated by commas, each code once",
            lambda pairs: ",".join(f"{code}:{name}" for code, name in pairs),
        ),
        "the other departments incidents are handed over to (移送, docs/API.md §16), by code;"
        " a department's token names one (police or ga: 公安, closed as handed_to_police)",
        default=_departments(
            "scjg:市场监管,sthj:生态环境,zj:住建,police:公安,jt:交通,sw:水务,yl:园林绿化"
        ),
    )
    duty_check_in_radius_m: float = variable(
        "DISPATCH_DUTY_CHECK_IN_RADIUS_M",
        Number(0, above=True),
        "an officer checks in at a post (岗点) only within this many metres of it"
        " (docs/API.md §15)",
        default=200.0,
    )
    duty_late_minutes: float = variable(
        "DISPATCH_DUTY_LATE_MINUTES",
        Number(0),
        "a check-in later than this many minutes after the shift's start is flagged late",
        default=10.0,
    )
    # Without a variable: clients are told both limits (docs/API.md), and deploy/nginx.conf's
    # limits sit just above them so that the app's own JSON 413 answers. Tests may set them.
    #: the largest body of a request
    max_body_bytes: int = 1024 * 1024
    #: the largest body of ``PUT /api/v1/zones`` (a district's real zones exceed 1 MiB);
    #: every other route keeps ``max_body_bytes``
    zones_max_body_bytes: int = 64 * 1024 * 1024

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value and not f.repr:
                shown.append(f"{f.name}={_MASK!r}")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def variables() -> dict[str, Variable]:
    """Each field of :class:`Settings` read from a variable, and its variable."""
    return {f.name: f.metadata[_VARIABLE] for f in fields(Settings) if _VARIABLE in f.metadata}


def from_env(
    env: Mapping[str, str] | None = None,
    *,
    require: Collection[str] = SERVE,
    only: Collection[str] | None = None,
) -> Settings:
    """Read and check the variables; raise ``ConfigError`` naming the first bad one.

    ``require`` names the fields that must be set (by default what ``dispatch serve`` needs).
    ``only``, if given, names the fields a command uses (``require`` is added to them): the
    variables of the others are not looked at and they keep their defaults. A field without a
    default that is neither required nor set reads as ``""``.
    """
    env = os.environ if env is None else env
    table = variables()
    unknown = sorted({*require, *(only or ())} - table.keys())
    if unknown:
        raise ValueError(f"no such settings: {unknown}")
    wanted = table.keys() if only is None else {*only, *require}
    values: dict[str, Any] = {}
    for f in fields(Settings):
        var = table.get(f.name)
        raw = env.get(var.name, "").strip() if var is not None and f.name in wanted else ""
        if var is not None and raw:
            values[f.name] = var.read(raw)
        elif var is not None and f.name in require:
            raise ConfigError(f"{var.name} is not set; it is required: {var.kind.accepted}")
        elif f.default is MISSING:
            values[f.name] = ""
    settings = Settings(**values)
    if settings.outbox_retry_max_s < settings.outbox_retry_base_s:
        raise ConfigError(
            f"DISPATCH_OUTBOX_RETRY_MAX_S={settings.outbox_retry_max_s:g} is not accepted: not"
            f" below DISPATCH_OUTBOX_RETRY_BASE_S={settings.outbox_retry_base_s:g}"
        )
    return settings


def _shown_default(default: Any, var: Variable) -> str:
    if default is MISSING:
        return "none (required)"
    if default is None:
        return "none"
    return f"`{var.kind.format(default)}`"


def markdown_rows() -> list[str]:
    """The first four cells (variable, default, accepted, meaning) of each row of the table in
    docs/DEPLOY.md, in the order of :class:`Settings`."""
    rows = []
    for f in fields(Settings):
        var: Variable | None = f.metadata.get(_VARIABLE)
        if var is not None:
            cells = [
                f"`{var.name}`",
                _shown_default(f.default, var),
                var.kind.accepted,
                var.meaning,
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


if __name__ == "__main__":
    sys.stdout.write("\n".join(markdown_rows()) + "\n")
