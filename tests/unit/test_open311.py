"""Open311 GeoReport v2, visits and batch lines, the outbox's back-off (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatcher.core import batch, open311, visits
from dispatcher.core.categories import by_code, load_default_catalogue
from dispatcher.core.errors import BadRequest, NotFound
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.web import outbox

CATEGORIES = by_code(load_default_catalogue())
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FORM = {"service_code": "200601", "lat": "31.2302", "long": "121.4737", "api_key": "k"}


def incident(n: int, **fields: object) -> Incident:
    base = Incident(
        id=IncidentId(f"20261123{n:08d}"),
        source=Source.HOTLINE,
        external_id=f"12345-{n}",
        category="200601",
        state=State.DISPATCHED,
        priority="normal",
        lon=121.4737,
        lat=31.2302,
        received_at=NOW,
        updated_at=NOW,
        squad_id="sq-west",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_services_and_definitions_carry_the_specifications_fields() -> None:
    services = open311.services(CATEGORIES.values())
    assert len(services) == len(CATEGORIES)
    assert set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    definition = open311.definition(CATEGORIES["200601"])
    attribute = definition["attributes"][1]
    assert set(attribute) >= {
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    }
    assert attribute["values"][0] == {"key": "day", "name": "白天 (day)"}


def test_a_form_becomes_a_hotline_report() -> None:
    wanted = open311.parse_request(
        {
            **FORM,
            "description": "夜间 KTV 噪声",
            "address_string": "幸福路 88 号",
            "media_url": "https://m.example/1.jpg",
            "attribute[time_of_day]": "night",
            "attribute[target_name]": "欢乐 KTV",
            "external_id": "12345-0099",
        },
        CATEGORIES,
    )
    assert wanted.report == {
        "source": "hotline",
        "category": "200601",
        "lon": 121.4737,
        "lat": 31.2302,
        "description": "夜间 KTV 噪声",
        "address": "幸福路 88 号",
        "media": ["https://m.example/1.jpg"],
        "external_id": "12345-0099",
    }
    assert wanted.attributes == {"time_of_day": "night", "target_name": "欢乐 KTV"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"service_code": ""}, "service_code"),
        ({"service_code": "nope"}, "service_code"),
        ({"lat": ""}, "lat"),
        ({"long": "east"}, "long"),
        ({"attribute[time_of_day]": "dusk"}, "attribute[time_of_day]"),
    ],
)
def test_bad_forms_are_400_naming_the_field(changes: dict[str, str], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        open311.parse_request({**FORM, **changes}, CATEGORIES)
    assert caught.value.field == field
    assert open311.errors_body(caught.value)[0]["code"] == 400


def test_a_merged_request_follows_the_incident_it_joined() -> None:
    target = incident(1, state=State.CLOSED, deadline=NOW + timedelta(hours=4))
    merged = incident(2, state=State.MERGED, duplicate_of=target.id, squad_id=None)
    shown = open311.request_json(merged, TZ, service_name="噪声", agency="西中队", target=target)
    assert shown["status"] == "closed"
    assert shown["status_notes"].startswith(f"重复诉件，已并入 {target.id}")
    assert shown["expected_datetime"] == "2026-11-23T14:00:00.000+08:00"
    assert (shown["lat"], shown["long"]) == (31.2302, 121.4737)
    assert open311.request_json(incident(3), TZ, service_name=None, agency="西中队")[
        "status_notes"
    ] == ("已派遣至西中队")


def test_xml_answers_are_the_specifications_shape() -> None:
    text = open311.to_xml("services", open311.services([CATEGORIES["200504"]]))
    root = ET.fromstring(text)
    assert root.tag == "services"
    assert root.find("service/service_code").text == "200504"  # type: ignore[union-attr]
    assert root.find("service/metadata").text == "true"  # type: ignore[union-attr]
    definition = ET.fromstring(
        open311.to_xml("service_definition", open311.definition(CATEGORIES["200504"]))
    )
    assert definition.findall("attributes/attribute/values/value/key")[0].text == "day"
    errors = ET.fromstring(open311.to_xml("errors", [{"code": 404, "description": "x"}]))
    assert errors.find("error/code").text == "404"  # type: ignore[union-attr]


def test_queries_default_to_ninety_days_and_ids_override() -> None:
    q = open311.parse_query({"status": "open,closed", "service_code": "200504,200601"}, NOW)
    assert q.start == NOW - timedelta(days=90)
    assert q.codes == ("200504", "200601")
    assert open311.parse_query({"service_request_id": "a,b", "status": "x"}, NOW).ids == ("a", "b")
    with pytest.raises(BadRequest):
        open311.parse_query({"status": "pending"}, NOW)
    with pytest.raises(BadRequest):
        open311.parse_query({"start_date": "2026-11-01T00:00:00"}, NOW)
    with pytest.raises(NotFound):
        open311.check_jurisdiction("shanghai.gov.cn", "huangpu.sh.gov.cn")


def test_visits_group_by_distance_address_or_name() -> None:
    a = incident(1, address="幸福路 88 号 一楼")
    b = incident(2, lon=121.4737 + 20 / 95_300, category="200504")  # 20 m away
    c = incident(3, lon=121.49, address="幸福路88号（一楼）")  # far, same address
    d = incident(4, lon=121.50, extra={"target_name": "欢乐KTV"})
    e = incident(5, lon=121.51, extra={"target_name": "欢乐 ＫＴＶ"}, state=State.REGISTERED)
    lone = incident(6, lon=121.52)
    closed = incident(7, state=State.CLOSED)
    found = visits.group([a, b, c, d, e, lone, closed], 30)
    assert [sorted(i.id for i in v.incidents) for v in found] == [
        [a.id, b.id, c.id],
        [d.id, e.id],
    ]
    assert found[0].reasons == ("nearby", "same_address")
    assert [i.id for i in found[1].to_dispatch] == [e.id]
    assert found[1].id == visits.visit_id([e, d])


def test_batch_lines_each_answer_for_themselves() -> None:
    lines = batch.parse_lines(
        [
            b'{"source":"grid","external_id":"g-1","category":"200504","lon":121.4,"lat":31.2}',
            b"",
            b"{broken",
            b'{"source":"grid","category":"200504","lon":121.4,"lat":31.2}',
            b'{"source":"grid","external_id":"g-2","category":"200504","lon":121.4}',
        ]
    )
    assert [(line.number, line.error and line.error.field) for line in lines] == [
        (1, None),
        (3, None),
        (4, "external_id"),
        (5, "lat"),
    ]
    assert lines[1].error is not None
    assert lines[1].error.status == 400


def test_the_outbox_backs_off_doubling_up_to_a_ceiling() -> None:
    assert [outbox.backoff(n, 1.0, 60.0) for n in (1, 2, 3, 6, 7, 100)] == [
        1.0,
        2.0,
        4.0,
        32.0,
        60.0,
        60.0,
    ]
