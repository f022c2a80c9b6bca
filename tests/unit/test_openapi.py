"""GET /api/v1/openapi.json describes every /api/v1 route of the application's route table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from dispatcher.app import create_app
from dispatcher.core.clocks import ClockKind
from dispatcher.core.stages import Stage
from dispatcher.core.stats import COUNTS, DEFINITIONS, RATES
from dispatcher.settings import Settings
from dispatcher.web.openapi import api_routes, document, service_routes

#: docs/API.md §7's names, each in every row of the figures
API_FIGURES = (
    "received",
    "registered",
    "dispatched",
    "resolved",
    "closed",
    "closed_on_time",
    "overdue_open",
    "reworked",
    "disposal_rate",
    "on_time_rate",
    "close_rate",
    "rework_rate",
    # added within v1: the national denominators and 按期处置数, 按期结案率
    "due_disposal",
    "due_close",
    "resolved_on_time",
    "on_time_close_rate",
)
#: routes of docs/API.md, whose requests and answers must have schemas
API_ROUTES = [
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents"),
    ("get", "/api/v1/incidents/{id}"),
    ("post", "/api/v1/incidents/{id}/actions"),
    ("get", "/api/v1/incidents/{id}/recommendations"),
    ("put", "/api/v1/squads/{id}"),
    ("put", "/api/v1/zones"),
    ("get", "/api/v1/zones"),
    ("get", "/api/v1/zones/match"),
    ("put", "/api/v1/units/{id}"),
    ("post", "/api/v1/units/{id}/position"),
    ("get", "/api/v1/units"),
    ("put", "/api/v1/categories"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/alerts/cap"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/reports/monthly"),
]


@pytest.fixture(scope="module")
def app_and_doc() -> tuple[Any, dict[str, Any]]:
    # nothing is connected until the application starts: the route table is all there is
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    return app, document(app.router)


def test_every_api_route_of_the_router_is_described(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    app, doc = app_and_doc
    routes = list(api_routes(app.router))
    assert len(routes) >= 30
    missing, undescribed = [], []
    for method, path, _ in routes:
        operation = doc["paths"].get(path, {}).get(method.lower())
        if operation is None:
            missing.append(f"{method} {path}")
        elif operation.get("x-described") is False:
            undescribed.append(f"{method} {path}")
    assert not missing
    assert not undescribed, "describe these routes in dispatcher/data/openapi.json"


def test_path_parameters_are_declared(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    _, doc = app_and_doc
    for path, operations in doc["paths"].items():
        wanted = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert declared == wanted, f"{method} {path}"


def test_security_is_bearer_everywhere(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    _, doc = app_and_doc
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            if path.startswith("/api/v1") and operation.get("security") != []:
                assert "401" in operation["responses"]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_reference_resolves(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    _, doc = app_and_doc
    for ref in set(refs(doc)):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_api_routes_have_request_and_response_schemas(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    _, doc = app_and_doc
    for method, path in API_ROUTES:
        operation = doc["paths"][path][method]
        ok = [c for c in operation["responses"] if c.startswith("2")]
        assert ok, path
        for code in ok:
            response = operation["responses"][code]
            assert "content" in response or code == "204", (path, code)
        if method in ("post", "put"):
            assert operation["requestBody"]["content"], path
    assert "review" in doc["components"]["schemas"]["Action"]["enum"]
    incident_in = doc["components"]["schemas"]["IncidentIn"]
    assert {"source", "category", "lon", "lat"} <= set(incident_in["required"])


def test_the_figures_are_described_with_their_formulas(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    _, doc = app_and_doc
    group = doc["components"]["schemas"]["StatsGroup"]
    assert set(API_FIGURES) <= set(group["required"])
    assert set(COUNTS) | set(RATES) <= set(group["properties"])
    assert group["properties"]["disposal_rate"]["description"] == (
        "处置率 = 处置数 / 应处置数 (resolved / due_disposal)"
    )
    stats = doc["paths"]["/api/v1/stats"]["get"]
    for name in RATES:
        assert group["properties"][name]["description"] == DEFINITIONS[name]
        assert DEFINITIONS[name] in stats["description"]
    assert "应处置数 = 派遣数 − 按时待处置数" in stats["description"]
    assert "merged duplicate" in stats["description"]
    assert "suspended" in stats["description"]
    assert "crosses the period's end" in stats["description"]
    group_by = next(p for p in doc["components"]["parameters"].values() if p["name"] == "group_by")
    assert group_by["schema"]["enum"] == ["squad", "zone", "category", "source", "day"]


def test_a_catalogue_entry_describes_its_stage_limits(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    schemas = app_and_doc[1]["components"]["schemas"]
    stage_limits = schemas["Category"]["properties"]["stage_limits"]
    assert set(stage_limits["properties"]) == {stage.value for stage in Stage}
    limit = schemas["StageLimit"]
    assert limit["required"] == ["clock", "limit"]
    assert limit["properties"]["clock"]["enum"] == [kind.value for kind in ClockKind]
    assert "stage_limits" not in schemas["Category"]["required"]  # entries without keep defaults
    stage = schemas["Incident"]["properties"]["stage"]["properties"]
    assert {"name", "since", "deadline", "overdue", "colour", "clock", "limit"} <= set(stage)


def test_the_routes_outside_api_v1_are_described_too(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    app, doc = app_and_doc
    routes = list(service_routes(app.router))
    paths = {path for _, path, _ in routes}
    assert {"/healthz", "/readyz", "/metrics", "/ws"} <= paths
    assert {p for p in paths if p.startswith("/open311/v2/")} == {
        "/open311/v2/services.{fmt}",
        "/open311/v2/services/{code}.{fmt}",
        "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{id}.{fmt}",
    }
    for method, path, _ in routes:
        operation = doc["paths"][path][method.lower()]
        assert operation.get("x-described") is not False, f"{method} {path}"
        assert "security" in operation, f"{method} {path}: say what it needs ([] for nothing)"
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/open311/v2/requests.{fmt}"]["post"]["security"] == [{"open311_key": []}]
    assert "101" in doc["paths"]["/ws"]["get"]["responses"]
    # the pages are not part of the interface
    assert "/" not in doc["paths"]
    assert not any(p.startswith("/static") for p in doc["paths"])


def test_the_document_itself_needs_no_token(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    _, doc = app_and_doc
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
