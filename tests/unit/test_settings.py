"""Settings: every variable read once, through the one table of dispatcher/settings.py."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dispatcher import cli
from dispatcher.core.clocks import ClockKind
from dispatcher.core.request_types import DEFAULT_HOTLINE_LIMITS, RequestType
from dispatcher.core.request_types import HotlineLimits as HotlineLimitDays
from dispatcher.core.stages import Stage
from dispatcher.setting_kinds import (
    CLOCK_KINDS,
    REQUEST_TYPES,
    STAGES,
    ConfigError,
    HotlineLimits,
    Number,
    ScoreWeights,
    StageLimitsSetting,
    SupervisionDays,
    Thresholds,
    Whole,
    WorkWindows,
)
from dispatcher.settings import Settings, from_env, markdown_rows, variables

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
URLS = {"DISPATCH_DATABASE_URL": "postgresql://u:p@db/x", "DISPATCH_REDIS_URL": "redis://r:6379/0"}
TABLE = variables()
NAMES = {field: var.name for field, var in TABLE.items()}
NUMERIC = sorted(v.name for v in TABLE.values() if isinstance(v.kind, Number | Whole))
SECRETS = sorted(v.name for v in TABLE.values() if v.secret)
#: fields of Settings without a variable, on purpose (see the comment above them)
WITHOUT_VARIABLE = {"max_body_bytes", "zones_max_body_bytes"}
#: modules that may touch the process environment, and why
ENVIRONMENT_READERS = {
    "dispatcher/settings.py": "the one reader of the variables",
    # copies the environment, minus libpq's PG* variables, for the PostgreSQL and Redis programs
    # it starts: no setting of the server is read there
    "dispatcher/demo/embedded.py": "builds the environment of its child processes",
}

DEFAULTS: dict[str, Any] = {
    "DISPATCH_DATABASE_URL": "",
    "DISPATCH_REDIS_URL": "",
    "DISPATCH_HOST": "127.0.0.1",
    "DISPATCH_PORT": 8080,
    "DISPATCH_ADMIN_TOKEN": None,
    "DISPATCH_TZ": "Asia/Shanghai",
    "DISPATCH_WORK_WINDOWS": WorkWindows.parse("08:00-12:00,14:00-18:00"),
    "DISPATCH_WORK_WINDOWS_SEASONAL": None,
    "DISPATCH_STAGE_LIMITS_HOTLINE": StageLimitsSetting.parse("accept=working_days:1"),
    "DISPATCH_AUTO_CONFIDENCE": 0.85,
    "DISPATCH_GROUP_COMMIT_MS": 2.0,
    "DISPATCH_BORDER_MARGIN_M": 30.0,
    "DISPATCH_ZONE_SLIVER_M2": 1000.0,
    "DISPATCH_ZONE_SLIVER_WIDTH_M": 5.0,
    "DISPATCH_WS_QUEUE_SIZE": 2048,
    "DISPATCH_WS_HEARTBEAT_S": 20.0,
    "DISPATCH_DEDUP": True,
    "DISPATCH_REPEAT_THRESHOLD": 3,
    "DISPATCH_REPEAT_WINDOW_DAYS": 30.0,
    "DISPATCH_DEVICE_RATE": 50.0,
    "DISPATCH_DEVICE_BURST": 100,
    "DISPATCH_HOTLINE_CALLBACK_URL": None,
    "DISPATCH_HOTLINE_CALLBACK_TOKEN": None,
    "DISPATCH_OUTBOX_POLL_S": 1.0,
    "DISPATCH_OUTBOX_RETRY_BASE_S": 1.0,
    "DISPATCH_OUTBOX_RETRY_MAX_S": 300.0,
    "DISPATCH_VISIT_RADIUS_M": 30.0,
    "DISPATCH_OPEN311_JURISDICTION": None,
    "DISPATCH_AUTH_FAILURES_PER_MINUTE": 20,
    "DISPATCH_SESSION_HOURS": 12.0,
    "DISPATCH_BREACH_MIN_CASES": 20,
    "DISPATCH_BREACH_CHECK_MINUTES": 60.0,
    "DISPATCH_CAMERA_NETWORKS": None,
    "DISPATCH_TRUST_FORWARDED": False,
    "DISPATCH_POSITION_STALE_S": 300.0,
    "DISPATCH_LOAD_PENALTY_M": 300.0,
    "DISPATCH_UNIT_MOVED_INTERVAL_S": 2.0,
    "DISPATCH_UNIT_MOVED_MAX_PER_S": 200.0,
    "DISPATCH_MEDIA_DIR": Path(".data/media"),
    "DISPATCH_MEDIA_MAX_BYTES": 10 * 1024 * 1024,
    "DISPATCH_AUDIT_KEY": None,
    "DISPATCH_AUDIT_CHECKPOINT_FILE": None,
    "DISPATCH_AUDIT_CHECKPOINT_MINUTES": 60.0,
    "DISPATCH_METRICS_NETWORKS": None,
    "DISPATCH_SCORE_WEIGHTS": ScoreWeights.parse(
        "disposal_rate:30,on_time_rate:20,rework_rate:20,overdue_open_rate:20,extension_rate:10"
    ),
    "DISPATCH_HOTLINE_LIMITS": HotlineLimits.parse(
        "consult:3,help:5,complaint:13,suggestion:13,report:13"
    ),
    "DISPATCH_HOTLINE_CONTACT_HOURS": 2.0,
    "DISPATCH_HOTLINE_SENDBACK_HOURS": 8.0,
    "DISPATCH_HOTLINE_BASICALLY_SATISFIED": True,
    "DISPATCH_SUPERVISION_DAYS": SupervisionDays.parse(
        "leader_instruction:5,media:3,environmental_inspection:5,petition:40,"
        "deputies_proposal:60,assigned_by_superior:5,internal:5"
    ),
    "DISPATCH_CASE_NUMBER_PREFIX": "城管",
    "DISPATCH_CASE_FILING_DAYS": 15.0,
    "DISPATCH_CASE_DECISION_DAYS": 90.0,
    "DISPATCH_CASE_EXTENSION_DAYS": 30.0,
    "DISPATCH_CASE_STATEMENT_DAYS": 5.0,
    "DISPATCH_CASE_DOCUMENT_MAX_BYTES": 1024 * 1024 * 1024,
    "DISPATCH_CASE_CAMERA_CONFIDENCE": 0.9,
    "DISPATCH_ESCALATION_STEP": 0.5,
    "DISPATCH_THRESHOLDS": Thresholds.parse(
        "disposal_rate>=98%,on_time_rate>=95%,close_rate>=95%,rework_rate<=5%"
    ),
    "DISPATCH_DEPARTMENTS": (
        ("scjg", "市场监管"),
        ("sthj", "生态环境"),
        ("zj", "住建"),
        ("police", "公安"),
        ("jt", "交通"),
        ("sw", "水务"),
        ("yl", "园林绿化"),
    ),
    "DISPATCH_DUTY_CHECK_IN_RADIUS_M": 200.0,
    "DISPATCH_DUTY_LATE_MINUTES": 10.0,
}


def read(**variables: str) -> Settings:
    return from_env({**URLS, **variables})


def value(settings: Settings, name: str) -> Any:
    field = next(f for f, n in NAMES.items() if n == name)
    return getattr(settings, field)


# --- the table -----------------------------------------------------------------------------------


def test_every_field_has_a_variable_but_the_two_fixed_limits() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields - TABLE.keys() == WITHOUT_VARIABLE
    assert len(set(NAMES.values())) == len(NAMES), "a variable named twice"
    assert all(name.startswith("DISPATCH_") for name in NAMES.values())


@pytest.mark.parametrize("name", sorted(NAMES.values()))
def test_the_default_of_every_variable(name: str) -> None:
    assert value(from_env({}, require=()), name) == DEFAULTS[name]
    assert value(from_env({name: "  "}, require=()), name) == DEFAULTS[name], "empty: default"


def test_every_variable_has_an_expected_default_here() -> None:
    assert set(DEFAULTS) == set(NAMES.values())


def test_every_default_is_written_as_text_its_variable_reads_back() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    for field, var in TABLE.items():
        default = defaults[field]
        if default is not None and default is not dataclasses.MISSING:
            assert var.read(var.kind.format(default)) == default, var.name


# --- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-5", "1e309", "abc", "0x10", "5 m"])
@pytest.mark.parametrize("name", NUMERIC)
def test_a_bad_number_is_refused_naming_the_variable_and_the_value(name: str, bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(**{name: bad})
    message = str(caught.value)
    assert message.startswith(f"{name}={bad!r} is not accepted: a ")
    assert "number" in message


@pytest.mark.parametrize("name", NUMERIC)
def test_an_empty_number_means_its_default(name: str) -> None:
    assert value(read(**{name: ""}), name) == value(read(), name)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("DISPATCH_PORT", "0", 0),
        ("DISPATCH_PORT", "65535", 65535),
        ("DISPATCH_WS_QUEUE_SIZE", "1e3", 1000),
        ("DISPATCH_WS_QUEUE_SIZE", " 256 ", 256),
        ("DISPATCH_DEVICE_RATE", "0", 0.0),
        ("DISPATCH_GROUP_COMMIT_MS", "0", 0.0),
        ("DISPATCH_AUTO_CONFIDENCE", "1", 1.0),
        ("DISPATCH_REPEAT_WINDOW_DAYS", "0.5", 0.5),
    ],
)
def test_numbers_within_range_are_taken(name: str, raw: str, expected: float) -> None:
    got = value(read(**{name: raw}), name)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DISPATCH_PORT", "65536"),
        ("DISPATCH_PORT", "80.5"),
        ("DISPATCH_WS_QUEUE_SIZE", "0"),
        ("DISPATCH_WS_QUEUE_SIZE", "2.5"),
        ("DISPATCH_REPEAT_THRESHOLD", "1"),
        ("DISPATCH_REPEAT_WINDOW_DAYS", "0"),
        ("DISPATCH_AUTO_CONFIDENCE", "1.5"),
        ("DISPATCH_GROUP_COMMIT_MS", "5000"),
        ("DISPATCH_UNIT_MOVED_MAX_PER_S", "0"),
        ("DISPATCH_WS_HEARTBEAT_S", "0.5"),
    ],
)
def test_numbers_out_of_range_or_not_whole_are_refused(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}="):
        read(**{name: raw})


def test_the_retry_bound_may_not_lie_below_the_first_wait() -> None:
    with pytest.raises(ConfigError, match=r"DISPATCH_OUTBOX_RETRY_MAX_S=.*DISPATCH_OUTBOX_RETRY"):
        read(DISPATCH_OUTBOX_RETRY_BASE_S="10", DISPATCH_OUTBOX_RETRY_MAX_S="5")
    settings = read(DISPATCH_OUTBOX_RETRY_BASE_S="10", DISPATCH_OUTBOX_RETRY_MAX_S="10")
    assert (settings.outbox_retry_base_s, settings.outbox_retry_max_s) == (10.0, 10.0)


@pytest.mark.parametrize("name", ["DISPATCH_DEDUP", "DISPATCH_TRUST_FORWARDED"])
def test_switches_are_on_or_off_and_nothing_else(name: str) -> None:
    for raw in ("1", "on", "ON", "true", "yes"):
        assert value(read(**{name: raw}), name) is True
    for raw in ("0", "off", "false", "No"):
        assert value(read(**{name: raw}), name) is False
    with pytest.raises(ConfigError, match=f"^{name}='maybe' is not accepted: on or off"):
        read(**{name: "maybe"})


def test_the_time_zone_must_be_known() -> None:
    assert read(DISPATCH_TZ="Asia/Urumqi").zone.key == "Asia/Urumqi"
    for bad in ("Mars/Olympus", "../etc/passwd"):
        with pytest.raises(ConfigError, match=r"^DISPATCH_TZ=.* is not accepted: a time zone"):
            read(DISPATCH_TZ=bad)


def test_urls_must_have_their_scheme() -> None:
    with pytest.raises(ConfigError, match=r"^DISPATCH_DATABASE_URL=\*\*\* is not accepted"):
        from_env({**URLS, "DISPATCH_DATABASE_URL": "mysql://u:p@db/x"})
    with pytest.raises(ConfigError, match=r"^DISPATCH_REDIS_URL=\*\*\* is not accepted"):
        from_env({**URLS, "DISPATCH_REDIS_URL": "r:6379"})
    with pytest.raises(ConfigError, match=r"^DISPATCH_HOTLINE_CALLBACK_URL=\*\*\*"):
        read(DISPATCH_HOTLINE_CALLBACK_URL="ftp://hotline")
    assert read(DISPATCH_REDIS_URL="rediss://:pw@r:6380/1").redis_url == "rediss://:pw@r:6380/1"
    assert read(DISPATCH_DATABASE_URL="postgres://db/x").database_url == "postgres://db/x"


def test_score_weights_name_rates_once_with_a_positive_total() -> None:
    weights = read(DISPATCH_SCORE_WEIGHTS=" close_rate:3, on_time_close_rate:1.5 ").score_weights
    assert weights.as_dict() == {"close_rate": 3.0, "on_time_close_rate": 1.5}
    assert str(weights) == "close_rate:3,on_time_close_rate:1.5"
    for bad in (
        "speed:1",
        "close_rate",
        "close_rate:1,close_rate:2",
        "close_rate:-1",
        "close_rate:0",
    ):
        with pytest.raises(ConfigError, match=r"^DISPATCH_SCORE_WEIGHTS="):
            read(DISPATCH_SCORE_WEIGHTS=bad)


def test_hotline_limits_name_every_request_type_once_in_working_days() -> None:
    limits = read(
        DISPATCH_HOTLINE_LIMITS=" report:10, consult:2, help:5, complaint:15, suggestion:0.5 "
    ).hotline_limits
    # in the types' order, whatever the order given
    assert limits.as_dict() == {
        "consult": 2.0,
        "help": 5.0,
        "complaint": 15.0,
        "suggestion": 0.5,
        "report": 10.0,
    }
    assert str(limits) == "consult:2,help:5,complaint:15,suggestion:0.5,report:10"
    for bad in (
        "consult:3",  # every type, not some
        "consult:3,help:5,complaint:13,suggestion:13,report:13,advice:1",
        "consult:3,help:5,complaint:13,suggestion:13,report:13,report:13",
        "consult:0,help:5,complaint:13,suggestion:13,report:13",
        "consult:nan,help:5,complaint:13,suggestion:13,report:13",
        "consult:367,help:5,complaint:13,suggestion:13,report:13",
        "consult,help:5,complaint:13,suggestion:13,report:13",
    ):
        with pytest.raises(ConfigError, match=r"^DISPATCH_HOTLINE_LIMITS="):
            read(DISPATCH_HOTLINE_LIMITS=bad)


def test_the_settings_know_the_request_types_and_their_defaults_of_the_core() -> None:
    assert tuple(t.value for t in RequestType) == REQUEST_TYPES
    default = from_env({}, require=()).hotline_limits.as_dict()
    assert HotlineLimitDays(**default) == DEFAULT_HOTLINE_LIMITS


def test_stage_limits_name_each_stage_once_on_a_clock() -> None:
    limits = read(
        DISPATCH_STAGE_LIMITS_HOTLINE=" verify=working_hours:2, accept=working_days:1.5 "
    ).stage_limits_hotline
    # in the stages' order, whatever the order given
    assert limits.limits == (("accept", "working_days", 1.5), ("verify", "working_hours", 2.0))
    assert str(limits) == "accept=working_days:1.5,verify=working_hours:2"
    for bad in (
        "dispose=continuous:1",
        "accept",
        "accept=working_days",
        "accept=weekly:1",
        "accept=continuous:0",
        "accept=continuous:nan",
        "accept=continuous:1,accept=continuous:2",
    ):
        with pytest.raises(ConfigError, match=r"^DISPATCH_STAGE_LIMITS_HOTLINE="):
            read(DISPATCH_STAGE_LIMITS_HOTLINE=bad)


def test_the_settings_know_the_stages_and_clocks_of_the_core() -> None:
    assert tuple(stage.value for stage in Stage) == STAGES
    assert tuple(kind.value for kind in ClockKind) == CLOCK_KINDS


def test_the_media_folder_and_limit() -> None:
    settings = read(DISPATCH_MEDIA_DIR="/var/lib/dispatch/media", DISPATCH_MEDIA_MAX_BYTES="1e6")
    assert settings.media_dir == Path("/var/lib/dispatch/media")
    assert settings.media_max_bytes == 1_000_000


# --- what a command needs ------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["DISPATCH_DATABASE_URL", "DISPATCH_REDIS_URL"])
def test_serve_refuses_to_start_without_its_connections(missing: str) -> None:
    env = {k: v for k, v in URLS.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^{missing} is not set; it is required"):
        from_env(env)
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        from_env({**env, missing: "   "})


def test_a_command_reads_only_the_variables_it_names() -> None:
    env = {"DISPATCH_DATABASE_URL": URLS["DISPATCH_DATABASE_URL"], "DISPATCH_PORT": "nan"}
    settings = from_env(env, require=["database_url"], only=[])
    assert settings.database_url == URLS["DISPATCH_DATABASE_URL"]
    assert settings.redis_url == ""
    assert settings.port == 8080  # not looked at
    with pytest.raises(ConfigError, match=r"^DISPATCH_PORT='nan'"):
        from_env(env, require=["database_url"])
    with pytest.raises(ConfigError, match=r"^DISPATCH_TZ='Nowhere'"):
        from_env({**env, "DISPATCH_TZ": "Nowhere"}, require=["database_url"], only=["tz"])
    with pytest.raises(ValueError, match="no such settings"):
        from_env(env, require=["database"])


def test_commands_name_the_missing_variable_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in NAMES.values():
        monkeypatch.delenv(name, raising=False)
    for argv in (["migrate"], ["audit", "verify"], ["serve"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"dispatch {' '.join(argv)}: DISPATCH_DATABASE_URL is not set")
    monkeypatch.setenv("DISPATCH_DATABASE_URL", URLS["DISPATCH_DATABASE_URL"])
    assert cli.main(["serve"]) == 2
    assert "dispatch serve: DISPATCH_REDIS_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("DISPATCH_REDIS_URL", URLS["DISPATCH_REDIS_URL"])
    monkeypatch.setenv("DISPATCH_WS_QUEUE_SIZE", "inf")
    assert cli.main(["serve"]) == 2
    assert "dispatch serve: DISPATCH_WS_QUEUE_SIZE='inf' is not accepted" in (
        capsys.readouterr().err
    )


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_are_masked_in_repr_and_in_errors() -> None:
    assert set(SECRETS) >= {
        "DISPATCH_DATABASE_URL",
        "DISPATCH_REDIS_URL",
        "DISPATCH_ADMIN_TOKEN",
        "DISPATCH_HOTLINE_CALLBACK_URL",
        "DISPATCH_HOTLINE_CALLBACK_TOKEN",
    }
    env = {
        "DISPATCH_DATABASE_URL": "postgresql://u:hunter2-db@db/x",
        "DISPATCH_REDIS_URL": "redis://:hunter2-redis@r/0",
        "DISPATCH_ADMIN_TOKEN": "hunter2-admin",
        "DISPATCH_HOTLINE_CALLBACK_URL": "https://hotline/cb?key=hunter2-url",
        "DISPATCH_HOTLINE_CALLBACK_TOKEN": "hunter2-token",
    }
    settings = from_env(env)
    shown = repr(settings)
    assert "hunter2" not in shown
    assert shown.count("'***'") == len(env)
    assert "port=8080" in shown
    assert "admin_token=None" in repr(from_env(URLS))
    for name in ("DISPATCH_DATABASE_URL", "DISPATCH_REDIS_URL", "DISPATCH_HOTLINE_CALLBACK_URL"):
        with pytest.raises(ConfigError) as caught:
            from_env({**env, name: "ftp://u:hunter2@host"})
        assert str(caught.value).startswith(f"{name}=*** is not accepted")


# --- nothing else reads the environment ----------------------------------------------------------


def _environment_reads(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "environb", "getenv"}:
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names}
            if names & {"environ", "environb", "getenv"}:
                lines.append(node.lineno)
    return lines


def test_only_the_settings_read_the_environment() -> None:
    found = {}
    for package in ("dispatcher", "realtime", "geo"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            lines = _environment_reads(path.read_text(encoding="utf-8"))
            if lines and name not in ENVIRONMENT_READERS:
                found[name] = lines
    assert not found, f"read the environment outside dispatcher/settings.py: {found}"
    assert _environment_reads("import os\nos.environ.get('X')\n") == [2]
    assert _environment_reads("from os import getenv\n") == [1]


# --- the documented table ------------------------------------------------------------------------


def _documented_rows() -> dict[str, str]:
    """The first four cells of each row of docs/DEPLOY.md's table, by variable."""
    rows = {}
    for line in DEPLOY_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `DISPATCH_"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = "| " + " | ".join(cells[:4]) + " |"
    return rows


def test_docs_deploy_lists_every_variable_as_the_code_does() -> None:
    # `python -m dispatcher.settings` prints the rows; the fifth cell (the image and compose)
    # is the document's own
    expected = {row.split("`")[1]: row for row in markdown_rows()}
    documented = _documented_rows()
    assert sorted(set(expected) - set(documented)) == [], "variables missing from docs/DEPLOY.md"
    assert sorted(set(documented) - set(expected)) == [], "docs/DEPLOY.md lists unknown ones"
    for name, row in expected.items():
        assert documented[name] == row, name


def test_compose_passes_every_variable_but_those_the_image_fixes() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    passed = {name for name in NAMES.values() if f"    {name}: " in compose}
    fixed = {"DISPATCH_HOST", "DISPATCH_PORT", "DISPATCH_MEDIA_DIR"}
    assert passed == set(NAMES.values()) - fixed
