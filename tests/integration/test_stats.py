"""The figures of docs/API.md §7 over a history built through the real API, every rate by hand.

The period's ends are instants taken between the actions (the server in the test's process
reads the same clock), so an incident can be made to cross the period's end exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from dispatcher.core.categories import load_default_catalogue
from tests.integration.support import ADMIN, EAST, WEST, Api

#: a continuous limit of 0.72 s: overdue within the test
FAST = {
    "code": "299902",
    "name": "测试：秒级时限",
    "priority": "urgent",
    "clock": "continuous",
    "limit": 0.0002,
    "dedup_radius_m": 0,
}


def west(n: int) -> tuple[float, float]:
    """The n-th point of a row in the west street, about 290 m apart (never duplicates)."""
    return WEST[0] + 0.003 * n, WEST[1]


async def load(api: Api) -> None:
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [FAST]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)


async def act(api: Api, incident_id: str, token: str, **body: Any) -> dict[str, Any]:
    _, answer = await api.call(
        "POST", f"/api/v1/incidents/{incident_id}/actions", token, body=body, expect=200
    )
    return dict(answer)


def query(**params: Any) -> str:
    return urlencode(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
    )


async def stats(api: Api, token: str = ADMIN, expect: int = 200, **params: Any) -> Any:
    _, body = await api.call("GET", f"/api/v1/stats?{query(**params)}", token, expect=expect)
    return body


@dataclass
class Town:
    """The incidents of the test and the instants around them."""

    start: datetime
    end: datetime = field(default_factory=lambda: datetime.now(UTC))
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


async def build(api: Api) -> Town:
    """Ten incidents received in [start, end), one before, one after; see each comment."""
    await load(api)
    op = await api.token("operator")
    w, e = await api.token("squad", "sq-west"), await api.token("squad", "sq-east")
    device = await api.token("device")
    lon, lat = west(11)
    _, before = await api.report(device, lon=lon, lat=lat)  # received before the period
    town = Town(start=datetime.now(UTC), tokens={"op": op, "w": w, "e": e, "device": device})

    async def report(name: str, n: int, **body: Any) -> str:
        lon, lat = west(n)
        _, answer = await api.report(device, lon=lon, lat=lat, **body)
        town.ids[name] = answer["id"]
        return str(answer["id"])

    # i7: a hotline call on a 0.72 s clock, signed for, never resolved: overdue at the end
    i7 = await report("i7", 7, category=FAST["code"])
    await act(api, i7, w, action="accept")
    # i8: the same, but suspended (挂账) at once: not overdue, counted as suspended
    i8 = await report("i8", 8, category=FAST["code"])
    await act(api, i8, op, action="suspend", reason="工程类")
    # i1: hotline → west, signed for, resolved, verified: closed on time
    i1 = await report("i1", 1)
    await act(api, i1, w, action="accept")
    await act(api, i1, w, action="resolve", outcome="corrected_on_spot")
    await act(api, i1, op, action="verify", passed=True)
    # i2: closed after a failed verification (返工)
    i2 = await report("i2", 2)
    await act(api, i2, w, action="accept")
    await act(api, i2, w, action="resolve", outcome="advised_and_educated")
    await act(api, i2, op, action="verify", passed=False, note="仍在经营")
    await act(api, i2, w, action="accept")
    await act(api, i2, w, action="resolve", outcome="cleared")
    await act(api, i2, op, action="verify", passed=True)
    # i3: signed for and extended (延期), still being handled
    i3 = await report("i3", 3)
    await act(api, i3, w, action="accept")
    await act(api, i3, w, action="extend", hours=2, reason="需协调物业")
    await act(api, i3, op, action="approve_extension")
    # i4: a citizen's report registered by hand, returned by west (回退), re-sent to east
    i4 = await report("i4", 4, source="citizen")
    await act(api, i4, op, action="register")
    await act(api, i4, op, action="dispatch", squad_id="sq-west")
    await act(api, i4, w, action="return", reason="属东街道")
    await act(api, i4, op, action="dispatch", squad_id="sq-east")
    await act(api, i4, e, action="accept")
    # i5: rejected (不予立案); i6: merged into i3 (并案); i10: still waiting for an operator
    await act(api, await report("i5", 5, source="citizen"), op, action="reject", reason="重复")
    await act(api, await report("i6", 6, source="citizen"), op, action="merge", into=i3)
    await report("i10", 10, source="citizen")
    # i9: a hotline call in the east street, resolved; verified only after the period's end
    _, nine = await api.report(device, lon=EAST[0], lat=EAST[1])
    town.ids["i9"] = i9 = nine["id"]
    await act(api, i9, e, action="accept")
    await act(api, i9, e, action="resolve", outcome="corrected_on_spot")
    _, seven = await api.call("GET", f"/api/v1/incidents/{i7}", expect=200)
    await asyncio.sleep(max(0.0, _seconds_until(seven["deadline"])) + 0.05)
    town.end = datetime.now(UTC)
    await act(api, i9, op, action="verify", passed=True)  # after the end
    await act(api, before["id"], w, action="accept")  # received before: not counted
    await api.report(device, lon=west(12)[0], lat=lat)  # received after: not counted
    return town


def _seconds_until(moment: str) -> float:
    return (datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds()


def row(body: dict[str, Any], key: str | None) -> dict[str, Any]:
    found = [g for g in body["groups"] if g["key"] == key]
    assert len(found) == 1, (key, [g["key"] for g in body["groups"]])
    return found[0]


COUNTS = (
    "received",
    "registered",
    "dispatched",
    "due_disposal",
    "resolved",
    "resolved_on_time",
    "overdue_open",
    "due_close",
    "closed",
    "closed_on_time",
)
MORE = ("reworked", "extended", "returned", "suspended", "rejected", "merged")


def counts(group: dict[str, Any]) -> tuple[int, ...]:
    return tuple(group[k] for k in (*COUNTS, *MORE))


async def test_every_figure_of_a_hand_built_history(api: Api) -> None:
    town = await build(api)
    body = await stats(api, **{"from": town.start, "to": town.end, "group_by": "squad"})
    total = body["total"]
    # received: i1-i5, i7-i10 (i6 merged); registered and dispatched: i1-i4, i7-i9.
    # Inside their limit at the end, so in no denominator: i3 and i4 (being handled), i8
    # (suspended), and i9 for closing (resolved, not yet verified). 应处置数: i1, i2, i9
    # (resolved, all in time) and i7 (overdue); 应结案数: i1, i2 (closed in time) and i7.
    assert counts(total) == (9, 7, 7, 4, 3, 3, 1, 3, 2, 2, 1, 1, 1, 1, 1, 1)
    # the national denominators; before, each divided by 派遣数 or 立案数, 7
    assert total["disposal_rate"] == 0.75  # 3 / 4 (was 3 / 7)
    assert total["on_time_rate"] == 0.75  # 按期处置数 3 / 4 (was closed on time 2 / 7)
    assert total["close_rate"] == round(2 / 3, 6)  # (was 2 / 7)
    assert total["on_time_close_rate"] == round(2 / 3, 6)
    assert total["rework_rate"] == round(1 / 3, 6)  # (was 1 / 7)
    assert total["extension_rate"] == 0.25  # i3, inside its extended limit (was 1 / 7)
    assert total["overdue_open_rate"] == 0.25  # (was 1 / 7)

    sq_west = row(body, "sq-west")  # i1, i2, i3, i7, i8
    assert counts(sq_west) == (5, 5, 5, 3, 2, 2, 1, 3, 2, 2, 1, 1, 0, 1, 0, 0)
    assert sq_west["name"] == "西街道中队"
    assert sq_west["disposal_rate"] == round(2 / 3, 6)
    # 30·⅔ + 20·⅔ + 20·(1 − ⅓) + 20·(1 − ⅓) + 10·(1 − ⅓), out of 100
    assert sq_west["score"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    sq_east = row(body, "sq-east")  # i4 (returned by west, re-sent here), i9
    assert counts(sq_east) == (2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0)
    assert (sq_east["disposal_rate"], sq_east["extension_rate"]) == (1.0, 0.0)
    # nothing of east's is due to close yet: 结案率, 按期结案率 and 返工率 are null, not 0
    assert (sq_east["close_rate"], sq_east["on_time_close_rate"]) == (None, None)
    assert sq_east["rework_rate"] is None
    assert sq_east["score"] is None  # 返工率 is weighted
    nobody = row(body, None)  # i5 rejected, i10 waiting, i6 merged
    assert counts(nobody) == (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1)
    assert nobody["disposal_rate"] is None
    assert nobody["score"] is None
    assert counts(row(body, "centre")) == (0,) * 16  # every squad has a row
    assert body["formulas"]["disposal_rate"] == (
        "处置率 = 处置数 / 应处置数 (resolved / due_disposal)"
    )


async def test_times_are_measured_from_the_history(api: Api) -> None:
    town = await build(api)
    body = await stats(api, **{"from": town.start, "to": town.end, "group_by": "source"})
    hotline = row(body, "hotline")
    citizen = row(body, "citizen")
    assert (hotline["received"], citizen["received"], citizen["merged"]) == (6, 3, 1)

    async def at(name: str, action: str, nth: int = 0) -> datetime:
        _, full = await api.call("GET", f"/api/v1/incidents/{town.ids[name]}", expect=200)
        found = [
            h for h in full["history"] if h["action"] == action and h["type"] != "dispatch.assigned"
        ]
        return datetime.fromisoformat(found[nth]["at"])

    # report → dispatch: 0 for the hotline (intake dispatched them), i4 waited for the operator
    times = hotline["times"]["report_to_dispatch"]
    assert (times["count"], times["avg_s"], times["p90_s"]) == (6, 0.0, 0.0)
    waited = (await at("i4", "dispatch") - await at("i4", "report")).total_seconds()
    assert citizen["times"]["report_to_dispatch"]["avg_s"] == pytest.approx(waited, abs=0.002)
    # dispatch → sign-for of i4 counts from the dispatch to east, the one signed for
    signed = (await at("i4", "accept") - await at("i4", "dispatch", 1)).total_seconds()
    assert citizen["times"]["dispatch_to_accept"]["avg_s"] == pytest.approx(signed, abs=0.002)
    # sign-for → resolution: i1, i2 (first resolution), i9; p90 interpolates between ranks
    spans = sorted(
        [
            (await at(n, "resolve") - await at(n, "accept")).total_seconds()
            for n in ("i1", "i2", "i9")
        ]
    )
    handled = hotline["times"]["accept_to_resolve"]
    assert handled["count"] == 3
    assert handled["avg_s"] == pytest.approx(sum(spans) / 3, abs=0.002)
    assert handled["p90_s"] == pytest.approx(spans[1] + 0.8 * (spans[2] - spans[1]), abs=0.002)


async def test_an_incident_crossing_the_end_is_judged_as_it_stood_then(api: Api) -> None:
    town = await build(api)
    period = {"from": town.start, "to": town.end, "group_by": "zone"}
    at_end = await stats(api, **period)
    later = await stats(api, **period, as_of=datetime.now(UTC))
    assert at_end["as_of"] == town.end.astimezone(at_end_tz(at_end)).isoformat()
    east_then, east_now = row(at_end, "east"), row(later, "east")  # i9 alone
    assert (east_then["resolved"], east_then["closed"]) == (1, 0)
    assert (east_now["resolved"], east_now["closed"]) == (1, 1)
    assert row(at_end, "west")["received"] == 8  # every other one, merged i6 aside
    # a finished period's figures do not change with what happens later
    again = await stats(api, **period)
    assert again["groups"] == at_end["groups"]


def at_end_tz(body: dict[str, Any]) -> Any:
    return datetime.fromisoformat(body["as_of"]).tzinfo


async def test_grouping_by_day_and_category(api: Api) -> None:
    town = await build(api)
    by_day = await stats(api, **{"from": town.start, "to": town.end, "group_by": "day"})
    day = town.start.astimezone(at_end_tz(by_day)).date().isoformat()
    assert by_day["groups"][0]["key"] == day
    assert sum(g["received"] for g in by_day["groups"]) == 9
    by_category = await stats(api, **{"from": town.start, "to": town.end, "group_by": "category"})
    fast = row(by_category, FAST["code"])
    assert (fast["received"], fast["overdue_open"], fast["suspended"]) == (2, 1, 1)
    assert fast["name"] == FAST["name"]
    assert row(by_category, "200504")["received"] == 7


async def test_who_may_read_which_figures(api: Api) -> None:
    town = await build(api)
    period = {"from": town.start, "to": town.end}
    own = await stats(api, town.tokens["w"], **period, group_by="category")
    assert own["squad_id"] == "sq-west"
    assert own["total"]["received"] == 5
    await stats(api, town.tokens["w"], 403, **period, squad_id="sq-east")
    await stats(api, town.tokens["device"], 403, **period)
    auditor = await stats(api, await api.token("auditor"), **period)
    assert auditor["total"]["received"] == 9
    await stats(api, None, 401, **period)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "street"}, "group_by"),
        ({"from": "2026-10-02", "to": "2026-10-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-10-01T00:00:00"}, "from"),
        ({"from": "2025-01-01", "to": "2026-10-01"}, "to"),
        ({"zone_level": "town"}, "zone_level"),
        ({"weights": "disposal_rate:x"}, "weights"),
        ({"weights": "speed:10"}, "weights"),
    ],
)
async def test_bad_parameters_answer_422_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    body = await stats(api, ADMIN, 422, **params)
    assert body["error"]["field"] == field


async def test_weights_are_configurable(api: Api) -> None:
    town = await build(api)
    body = await stats(
        api,
        **{"from": town.start, "to": town.end},
        weights="disposal_rate:1,rework_rate:1",
    )
    # west: 处置率 2/3, 返工率 1/3 → 100 × (⅔ + ⅔) / 2
    assert row(body, "sq-west")["score"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert body["weights"] == {"disposal_rate": 1.0, "rework_rate": 1.0}


async def test_time_suspended_is_not_handling_time(api: Api) -> None:
    await load(api)
    op = await api.token("operator")
    w = await api.token("squad", "sq-west")
    start = datetime.now(UTC)
    _, inc = await api.report(await api.token("device"))
    iid = inc["id"]
    await act(api, iid, w, action="accept")
    await act(api, iid, op, action="suspend", reason="等待工程配合")
    await asyncio.sleep(0.4)
    await act(api, iid, op, action="resume", reason="恢复")
    await act(api, iid, w, action="resolve", outcome="cleared")
    _, full = await api.call("GET", f"/api/v1/incidents/{iid}", expect=200)
    at = {
        h["action"]: datetime.fromisoformat(h["at"])
        for h in full["history"]
        if h["type"] == "incident.updated"
    }
    handled = (at["resolve"] - at["accept"]) - (at["resume"] - at["suspend"])
    body = await stats(api, **{"from": start, "group_by": "squad"})
    figure = row(body, "sq-west")["times"]["accept_to_resolve"]
    assert figure["count"] == 1
    assert figure["avg_s"] == pytest.approx(handled.total_seconds(), abs=0.003)
    assert figure["avg_s"] < (at["resolve"] - at["accept"]).total_seconds() - 0.35


async def test_a_case_enters_the_denominators_when_its_limit_passes(api: Api) -> None:
    """Judged at an injected as_of: before its deadline a case being handled weighs on no
    rate (null, not 0); after it, it is due and overdue; handled late, it is disposed of
    and closed, but neither on time."""
    await load(api)
    op, w = await api.token("operator"), await api.token("squad", "sq-west")
    device = await api.token("device")
    start = datetime.now(UTC)
    _, late = await api.report(device, lon=west(1)[0], lat=west(1)[1], category=FAST["code"])
    _, quick = await api.report(device, lon=west(2)[0], lat=west(2)[1], category=FAST["code"])
    await act(api, late["id"], w, action="accept")
    await act(api, quick["id"], w, action="accept")
    await act(api, quick["id"], w, action="resolve", outcome="cleared")  # within 0.72 s
    deadline = datetime.fromisoformat(late["deadline"])
    await asyncio.sleep(
        max(0.0, _seconds_until(late["deadline"]), _seconds_until(quick["deadline"]))
    )
    await asyncio.sleep(0.05)
    await act(api, quick["id"], op, action="verify", passed=True)  # closed after its deadline
    passed = datetime.now(UTC)
    period = {"from": start, "to": passed, "group_by": "category"}

    before = row(
        await stats(api, **period, as_of=deadline - timedelta(milliseconds=1)), FAST["code"]
    )
    # at as_of: late signed for and inside its limit; quick resolved, inside it to close
    assert (before["dispatched"], before["due_disposal"], before["resolved"]) == (2, 1, 1)
    assert (before["registered"], before["due_close"], before["overdue_open"]) == (2, 0, 0)
    assert before["disposal_rate"] == 1.0  # quick alone is due, and disposed of
    assert before["close_rate"] is None  # nothing is due to close yet: null, not 0

    after = row(await stats(api, **period), FAST["code"])  # judged at `to`
    assert (after["due_disposal"], after["overdue_open"], after["due_close"]) == (2, 1, 2)
    assert (after["resolved_on_time"], after["closed"], after["closed_on_time"]) == (1, 1, 0)
    assert after["disposal_rate"] == after["overdue_open_rate"] == 0.5
    assert after["on_time_rate"] == 0.5
    assert (after["close_rate"], after["on_time_close_rate"]) == (0.5, 0.0)
