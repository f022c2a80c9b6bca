"""The figures' formulas and edge rules over hand-made standings (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatcher.core.errors import ValidationFailed
from dispatcher.core.periods import day_keys, month_period, parse_period
from dispatcher.core.stats import (
    COUNTS,
    DEFAULT_WEIGHTS,
    DEFINITIONS,
    LABELS,
    RATES,
    GroupBy,
    Standing,
    classify,
    parse_weights,
    score,
    summarise,
    tabulate,
    time_figure,
)
from dispatcher.store.figures import dimension_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SENT = {"registered": True, "dispatched": True}


def test_a_case_closed_on_time_counts_all_the_way_through() -> None:
    done = Standing("closed", on_time=True, **SENT)
    assert classify(done) == (
        "received",
        "registered",
        "dispatched",
        "resolved",
        "closed",
        "closed_on_time",
    )
    assert "closed_on_time" not in classify(Standing("closed", on_time=False, **SENT))


def test_a_merged_duplicate_counts_only_as_merged() -> None:
    assert classify(Standing("merged", reworked=True, past_deadline=True, **SENT)) == ("merged",)


def test_overdue_means_unresolved_past_the_deadline_and_not_suspended() -> None:
    late = Standing("accepted", past_deadline=True, **SENT)
    assert "overdue_open" in classify(late)
    assert "overdue_open" not in classify(Standing("accepted", **SENT))
    suspended = Standing("accepted", past_deadline=True, suspended=True, **SENT)
    assert "overdue_open" not in classify(suspended)
    assert "suspended" in classify(suspended)
    returned = Standing("returned", past_deadline=True, returned=True, **SENT)
    assert {"overdue_open", "returned"} <= set(classify(returned))
    waiting = Standing("resolved", past_deadline=True, **SENT)  # waiting for verification
    assert "overdue_open" not in classify(waiting)
    never_sent = Standing("registered", registered=True, past_deadline=True)
    assert classify(never_sent) == ("received", "registered")


def test_rejected_and_waiting_reports_are_received_only() -> None:
    assert classify(Standing("rejected")) == ("received", "rejected")
    assert classify(Standing("reported")) == ("received",)


def test_rework_extension_and_return_count_once_per_incident() -> None:
    busy = Standing("dispatched", reworked=True, extended=True, returned=True, **SENT)
    marks = classify(busy)
    assert {"reworked", "extended", "returned"} <= set(marks)
    assert len(marks) == len(set(marks))


def test_rates_come_from_the_counts_of_a_group() -> None:
    counted = [
        (Standing("closed", on_time=True, **SENT), 3),
        (Standing("closed", on_time=False, reworked=True, **SENT), 1),
        (Standing("accepted", past_deadline=True, extended=True, **SENT), 2),
        (Standing("resolved", **SENT), 1),
        (Standing("reported"), 4),
        (Standing("merged"), 5),
    ]
    times = {"accept_to_resolve": time_figure(4, 1234.5678, 2000.04449)}
    group = summarise("sq-west", "西", counted, times, DEFAULT_WEIGHTS)
    c = group.counts
    assert (c["received"], c["registered"], c["dispatched"], c["resolved"]) == (11, 7, 7, 5)
    assert (c["closed"], c["closed_on_time"], c["overdue_open"], c["merged"]) == (4, 3, 2, 5)
    assert group.rates == {
        "disposal_rate": round(5 / 7, 6),
        "on_time_rate": round(3 / 7, 6),
        "close_rate": round(4 / 7, 6),
        "rework_rate": round(1 / 7, 6),
        "extension_rate": round(2 / 7, 6),
        "overdue_open_rate": round(2 / 7, 6),
    }
    assert group.times["accept_to_resolve"].avg_s == 1234.568
    assert group.times["accept_to_resolve"].p90_s == 2000.044
    assert group.times["report_to_dispatch"].count == 0
    expected = (
        30 * round(5 / 7, 6)
        + 20 * round(3 / 7, 6)
        + 20 * (1 - round(1 / 7, 6))
        + 20 * (1 - round(2 / 7, 6))
        + 10 * (1 - round(2 / 7, 6))
    )
    assert group.score == round(expected, 4)
    assert summarise(None, "空", [], {}, DEFAULT_WEIGHTS).rates["disposal_rate"] is None


def test_score_weighs_good_rates_up_and_bad_ones_down() -> None:
    rates = {
        "disposal_rate": 0.9,
        "on_time_rate": 0.8,
        "rework_rate": 0.1,
        "overdue_open_rate": 0.05,
        "extension_rate": 0.2,
    }
    expected = 30 * 0.9 + 20 * 0.8 + 20 * 0.9 + 20 * 0.95 + 10 * 0.8
    assert score(rates, DEFAULT_WEIGHTS) == pytest.approx(expected)
    assert score({**rates, "disposal_rate": None}, DEFAULT_WEIGHTS) is None
    # weights need not add up to 100: the score is out of 100 all the same
    assert score(rates, {"disposal_rate": 3, "rework_rate": 1}) == pytest.approx(
        100 * (3 * 0.9 + 0.9) / 4
    )
    assert score({**rates, "close_rate": None}, {"disposal_rate": 1, "close_rate": 0}) == 90.0


def test_weights_are_parsed_and_checked() -> None:
    assert parse_weights(None) == DEFAULT_WEIGHTS
    assert parse_weights("disposal_rate:3, close_rate:1") == {"disposal_rate": 3, "close_rate": 1}
    for bad in ("disposal_rate", "speed:1", "disposal_rate:-1", "disposal_rate:0", "x:y:z"):
        with pytest.raises(ValidationFailed) as refused:
            parse_weights(bad)
        assert refused.value.field == "weights"


def test_tabulate_orders_the_groups_and_shows_the_empty_ones() -> None:
    counted = {
        "sq-west": [(Standing("closed", on_time=True, **SENT), 2)],
        None: [(Standing("reported"), 1)],
        "sq-east": [(Standing("accepted", **SENT), 1)],
    }
    total = summarise(None, "合计", [c for v in counted.values() for c in v], {}, DEFAULT_WEIGHTS)
    figures = tabulate(
        GroupBy.SQUAD, counted, {}, total, DEFAULT_WEIGHTS, lambda k: k or "未派遣", ["centre"]
    )
    assert [g.key for g in figures.groups] == ["centre", "sq-east", "sq-west", None]
    assert figures.groups[0].counts == dict.fromkeys(COUNTS, 0)
    assert figures.total.counts["received"] == 4
    assert figures.total.rates["disposal_rate"] == round(2 / 3, 6)  # not a mean of rates
    row = figures.groups[2].to_json()
    assert (row["key"], row["dispatched"], row["disposal_rate"]) == ("sq-west", 2, 1.0)
    assert set(row["times"]) == {"report_to_dispatch", "dispatch_to_accept", "accept_to_resolve"}


def test_periods_from_dates_times_and_months() -> None:
    day = parse_period("2026-10-01", "2026-10-31", None, SHANGHAI, NOW)
    assert day.start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert day.end == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # the 31st included
    assert day.as_of == day.end
    today = parse_period(None, None, None, SHANGHAI, NOW)
    assert (today.start, today.as_of) == (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), NOW)
    assert today.received_before == NOW
    later = parse_period("2026-10-01", "2026-10-31", "2026-11-05T00:00:00+08:00", SHANGHAI, NOW)
    assert later.as_of == datetime(2026, 11, 4, 16, 0, tzinfo=UTC)
    assert later.received_before == later.end
    december = month_period("2026-12", SHANGHAI, NOW)
    assert december.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert december.as_of == NOW  # not begun: judged now, nothing received
    for start, end, field in [
        ("2026-10-02", "2026-10-01", "to"),
        ("2026-10-01T00:00:00", None, "from"),
        ("x", None, "from"),
        ("2025-01-01", "2026-10-01", "to"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            parse_period(start, end, None, SHANGHAI, NOW)
        assert refused.value.field == field
    for month in ("2026-13", "2026-1", "1999-12", None):
        with pytest.raises(ValidationFailed) as refused:
            month_period(month, SHANGHAI, NOW)
        assert refused.value.field == "month"


def test_day_keys_cover_the_local_days_of_the_period() -> None:
    start = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 2026-10-01 00:00 in Shanghai
    assert day_keys(start, start + timedelta(days=3), SHANGHAI) == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
    ]
    assert day_keys(start, start, SHANGHAI) == []


def test_every_figure_has_a_label_and_a_definition() -> None:
    for name in (*COUNTS, *RATES, "score"):
        assert name in LABELS
        assert name in DEFINITIONS
    for name, (numerator, denominator) in RATES.items():
        assert numerator in DEFINITIONS[name]
        assert denominator in DEFINITIONS[name]


def test_grouping_bits_name_the_grouping_of_a_row() -> None:
    # GROUPING(squad, zone, category, source, day): 0 for the column a row is grouped by
    assert [dimension_of(g) for g in (0b01111, 0b10111, 0b11011, 0b11101, 0b11110)] == [
        "squad",
        "zone",
        "category",
        "source",
        "day",
    ]
    assert dimension_of(0b11111) == "total"
