"""CAP 1.2: hostile XML refused, the schema enforced, real-shaped alerts read (pure)."""

from __future__ import annotations

import pytest

from dispatcher.core import cap
from dispatcher.core.categories import by_code, load_default_catalogue
from dispatcher.core.errors import BadRequest, ValidationFailed
from geo.distance import distance_m

CATEGORIES = by_code(load_default_catalogue())
NS = "urn:oasis:names:tc:emergency:cap:1.2"
EVENT_CODE = "<eventCode><valueName>category</valueName><value>200303</value></eventCode>"
CONFIDENCE = "<parameter><valueName>confidence</valueName><value>{}</value></parameter>"


def alert(
    *infos: str,
    msg_type: str = "Alert",
    status: str = "Actual",
    identifier: str = "DRONE-07-20261123-0042",
    references: str = "",
    ns: str = NS,
) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{ns}">
  <identifier>{identifier}</identifier>
  <sender>drone-07@huangpu.cgzf.gov.cn</sender>
  <sent>2026-11-23T10:15:00+08:00</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Restricted</scope>
  <restriction>黄浦区城管指挥中心</restriction>
  {refs}
  {"".join(infos)}
</alert>""".encode()


def info(
    code: str = "200303",
    area: str = "<circle>31.2302,121.4737 0.05</circle>",
    language: str = "zh-CN",
    headline: str = "无人机巡查：渣土车道路遗撒",
    extra: str = "",
) -> str:
    return f"""
  <info>
    <language>{language}</language>
    <category>Env</category>
    <event>渣土撒漏</event>
    <urgency>Immediate</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <eventCode><valueName>category</valueName><value>{code}</value></eventCode>
    <onset>2026-11-23T10:14:30+08:00</onset>
    <headline>{headline}</headline>
    <description>延安东路 约 30 米遗撒</description>
    <parameter><valueName>source</valueName><value>drone</value></parameter>
    {extra}
    <resource><resourceDesc>航拍</resourceDesc><mimeType>image/jpeg</mimeType>
      <uri>https://media.example/drone-07/0042.jpg</uri></resource>
    <area><areaDesc>延安东路近河南中路</areaDesc>{area}</area>
  </info>"""


def test_a_drone_alert_with_a_circle_becomes_one_report() -> None:
    parsed = cap.parse_alert(alert(info()))
    assert (parsed.sender, parsed.msg_type, parsed.status) == (
        "drone-07@huangpu.cgzf.gov.cn",
        "Alert",
        "Actual",
    )
    (draft,) = cap.drafts(parsed, CATEGORIES)
    report = draft.report
    assert (report["lon"], report["lat"]) == (121.4737, 31.2302)  # CAP writes lat,lon
    assert report["source"] == "drone"
    assert report["confidence"] == 0.75  # certainty Likely
    assert report["occurred_at"] == "2026-11-23T10:14:30+08:00"
    assert report["media"] == ["https://media.example/drone-07/0042.jpg"]
    assert report["external_id"] == "drone-07@huangpu.cgzf.gov.cn/DRONE-07-20261123-0042/0"
    assert draft.extra["cap"]["radius_m"] == 50.0
    assert report["description"].startswith("无人机巡查")


def test_a_polygon_is_placed_at_its_centroid_in_metres() -> None:
    # a 200 m x 100 m block, lat,lon pairs, closed
    ring = "31.2300,121.4700 31.2300,121.4721 31.2309,121.4721 31.2309,121.4700 31.2300,121.4700"
    (draft,) = cap.drafts(
        cap.parse_alert(alert(info(area=f"<polygon>{ring}</polygon>"))), CATEGORIES
    )
    centre = (121.47105, 31.23045)
    assert distance_m(draft.report["lon"], draft.report["lat"], *centre) < 0.5


def test_translations_make_one_report_in_chinese_and_two_places_make_two() -> None:
    english = info(language="en-US", headline="Construction spoil on the road")
    chinese = info()
    (draft,) = cap.drafts(cap.parse_alert(alert(english, chinese)), CATEGORIES)
    assert draft.report["description"].startswith("无人机巡查")
    two_places = info(
        area="<circle>31.2302,121.4737 0.05</circle></area>"
        "<area><areaDesc>另一处</areaDesc><circle>31.2400,121.4800 0.02</circle>"
    )
    drafts = cap.drafts(cap.parse_alert(alert(two_places)), CATEGORIES)
    assert [d.report["external_id"][-2:] for d in drafts] == ["/0", "/1"]


def test_update_and_cancel_name_what_they_refer_to() -> None:
    refs = "drone-07@huangpu.cgzf.gov.cn,DRONE-07-20261123-0042,2026-11-23T10:15:00+08:00"
    parsed = cap.parse_alert(alert(msg_type="Cancel", identifier="X-2", references=refs))
    assert parsed.references == (
        ("drone-07@huangpu.cgzf.gov.cn", "DRONE-07-20261123-0042", "2026-11-23T10:15:00+08:00"),
    )
    assert parsed.infos == ()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
REMOTE_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL, REMOTE_DTD])
def test_entities_and_dtds_are_refused_before_anything_expands(body: bytes) -> None:
    with pytest.raises(BadRequest, match="refused"):
        cap.parse_alert(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<alert",
        b"not xml at all",
        b"",
        b"<alert xmlns='x'></alrt>",
        b"\xff\xfe<a/>",
        alert(info()).replace("遗撒".encode(), b"\xe9\x81"),  # not UTF-8
        alert(info()).replace(b'encoding="UTF-8"', b'encoding="no-such-encoding"'),
    ],
)
def test_malformed_xml_is_a_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        cap.parse_alert(body)


def test_deep_nesting_is_refused_while_reading() -> None:
    deep = (
        b"<alert xmlns='" + NS.encode() + b"'>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</alert>"
    )
    with pytest.raises(ValidationFailed) as caught:
        cap.parse_alert(deep)
    assert caught.value.field == "alert"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (alert(info(), ns="urn:oasis:names:tc:emergency:cap:1.1"), "alert"),
        (alert(info(), status="Maybe"), "alert/status"),
        (alert(info()).replace(b"<urgency>Immediate", b"<urgency>Soon"), "alert/info/urgency"),
        (alert(info()).replace(b"+08:00</sent>", b"</sent>"), "alert/sent"),
        (alert(info(code="999999")), "info[0].eventCode"),
        (alert(info().replace(EVENT_CODE, "")), "info[0].eventCode"),
        (alert(info(area="")), "info[0].area"),
        (
            alert(info(area="<polygon>31.23,121.47 31.24,121.48</polygon>")),
            "info[0].area[0].polygon[0]",
        ),
        (alert(info(area="<circle>121.47,31.23 0.05</circle>")), "info[0].area[0].circle[0]"),
        (
            alert(
                info(
                    extra="<parameter><valueName>confidence</valueName><value>2</value></parameter>"
                )
            ),
            "info.parameter",
        ),
    ],
)
def test_invalid_alerts_are_422_naming_where(body: bytes, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        cap.drafts(cap.parse_alert(body), CATEGORIES)
    assert caught.value.field == field


def test_a_long_sender_and_identifier_still_make_a_short_external_id() -> None:
    parsed = cap.parse_alert(alert(info(), identifier="I" * 300))
    (draft,) = cap.drafts(parsed, CATEGORIES)
    assert len(draft.report["external_id"]) <= 200
