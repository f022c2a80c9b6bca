"""The figures' formulas and edge rules over hand-made standings (pure, no database).

The rates are the national 数字城管 ones: 处置率, 按期处置率, 超期未处置率 and 延期率 over 应处置数
(派遣数 − 按时待处置数), 结案率, 按期结案率 and 返工率 over 应结案数 (立案数 − 按时待结案数). Each
has a worked example below on one hand-made squad, with cases still inside their limit (in no
denominator) and overdue ones (in them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatcher.core.errors import ValidationFailed
from dispatcher.core.periods import day_keys, month_period, parse_period
from dispatcher.core.stats import (
    COUNTS,
    DEFINITIONS,
    LABELS,
    RATES,
    RULES,
    GroupBy,
    Standing,
    classify,
    parse_weights,
    score,
    summarise,
    tabulate,
    time_figure,
)
from dispatcher.setting_kinds import SCORED_RATES
from dispatcher.settings import from_env
from dispatcher.store.figures import dimension_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SENT = {"registered": True, "dispatched": True}
#: the deployment's default weights (DISPATCH_SCORE_WEIGHTS unset)
WEIGHTS = from_env({}, require=()).score_weights.as_dict()


def test_a_case_closed_on_time_counts_all_the_way_through() -> None:
    done = Standing("closed", on_time=True, closed_on_time=True, **SENT)
    assert classify(done) == (
        "received",
        "registered",
        "due_close",
        "dispatched",
        "due_disposal",
        "resolved",
        "resolved_on_time",
        "closed",
        "closed_on_time",
    )
    # resolved in time, verified after the deadline: 按期处置 but not 按期结案
    late_close = classify(Standing("closed", on_time=True, closed_on_time=False, **SENT))
    assert "resolved_on_time" in late_close
    assert "closed_on_time" not in late_close


def test_a_case_inside_its_limit_is_in_no_denominator() -> None:
    # signed for, deadline not yet passed at as_of: 按时待处置 and 按时待结案
    marks = classify(Standing("accepted", past_deadline=False, **SENT))
    assert marks == ("received", "registered", "dispatched")
    # the same case once its deadline has passed: in both denominators, and overdue
    late = classify(Standing("accepted", past_deadline=True, **SENT))
    assert {"due_disposal", "due_close", "overdue_open"} <= set(late)
    # resolved in time and waiting for verification: disposed of, not yet due to close
    waiting = classify(Standing("resolved", on_time=True, **SENT))
    assert {"due_disposal", "resolved", "resolved_on_time"} <= set(waiting)
    assert "due_close" not in waiting
    # ... and past the deadline while still not verified: due to close, not closed
    assert "due_close" in classify(Standing("resolved", past_deadline=True, **SENT))
    # registered, never dispatched, past its deadline: due to close only
    assert classify(Standing("registered", registered=True, past_deadline=True)) == (
        "received",
        "registered",
        "due_close",
    )
    # suspended (挂账): its clock stands still, so it is inside its limit (RULES)
    held = classify(Standing("accepted", past_deadline=True, suspended=True, **SENT))
    assert not {"due_disposal", "due_close", "overdue_open"} & set(held)


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
    assert classify(never_sent) == ("received", "registered", "due_close")


def test_rejected_and_waiting_reports_are_received_only() -> None:
    assert classify(Standing("rejected")) == ("received", "rejected")
    assert classify(Standing("reported")) == ("received",)


def test_rework_extension_and_return_count_once_per_incident() -> None:
    busy = Standing("dispatched", reworked=True, extended=True, returned=True, **SENT)
    marks = classify(busy)
    assert {"reworked", "extended", "returned"} <= set(marks)
    assert len(marks) == len(set(marks))


#: one squad at as_of, by hand: (standing, how many)
WORKED = [
    (Standing("closed", on_time=True, closed_on_time=True, **SENT), 6),
    # resolved in time, verified after the deadline
    (Standing("closed", on_time=True, closed_on_time=False, **SENT), 1),
    # reworked once, resolved and closed late
    (Standing("closed", on_time=False, closed_on_time=False, reworked=True, **SENT), 1),
    # resolved in time, waiting for verification, deadline not passed: not yet due to close
    (Standing("resolved", on_time=True, **SENT), 1),
    # signed for, extended, still inside the extended limit: in no denominator
    (Standing("accepted", extended=True, **SENT), 2),
    # signed for and past the deadline: overdue, in both denominators
    (Standing("accepted", past_deadline=True, **SENT), 1),
    # suspended (挂账) past the deadline it had: its clock stands still, in no denominator
    (Standing("dispatched", suspended=True, past_deadline=True, **SENT), 1),
    # registered, never dispatched, past its deadline: due to close only
    (Standing("registered", registered=True, past_deadline=True), 1),
    (Standing("reported"), 1),
    (Standing("merged"), 1),
]


def test_the_counts_of_the_worked_example() -> None:
    times = {"accept_to_resolve": time_figure(4, 1234.5678, 2000.04449)}
    group = summarise("sq-west", "西", WORKED, times, WEIGHTS)
    assert group.times["accept_to_resolve"].avg_s == 1234.568
    assert group.times["accept_to_resolve"].p90_s == 2000.044
    assert group.times["report_to_dispatch"].count == 0
    c = group.counts
    assert (c["received"], c["registered"], c["dispatched"]) == (15, 14, 13)
    # 应处置数 = 派遣数 13 − 按时待处置数 3 (the two extended, the suspended one)
    assert c["due_disposal"] == 10
    assert (c["resolved"], c["resolved_on_time"], c["overdue_open"]) == (9, 8, 1)
    # 应结案数 = 立案数 14 − 按时待结案数 4 (the one waiting for verification, the two
    # extended, the suspended one)
    assert c["due_close"] == 10
    assert (c["closed"], c["closed_on_time"]) == (8, 6)
    assert (c["reworked"], c["extended"], c["suspended"], c["merged"]) == (1, 2, 1, 1)


@pytest.mark.parametrize(
    ("name", "expected", "old"),
    [
        # 处置率 = 处置数 9 / 应处置数 10 (before: / 派遣数 13)
        ("disposal_rate", 0.9, round(9 / 13, 6)),
        # 按期处置率 = 按期处置数 8 / 应处置数 10 (before: 按期 and closed, 6 / 13)
        ("on_time_rate", 0.8, round(6 / 13, 6)),
        # 结案率 = 结案数 8 / 应结案数 10 (before: / 立案数 14)
        ("close_rate", 0.8, round(8 / 14, 6)),
        # 按期结案率 = 按期结案数 6 / 应结案数 10 (new)
        ("on_time_close_rate", 0.6, None),
        # 返工率 = 返工数 1 / 应结案数 10 (before: / 立案数 14)
        ("rework_rate", 0.1, round(1 / 14, 6)),
        # 超期未处置率 = 超期待处置数 1 / 应处置数 10 (before: / 派遣数 13)
        ("overdue_open_rate", 0.1, round(1 / 13, 6)),
        # 延期率 = 延期数 2 / 应处置数 10 (before: / 派遣数 13)
        ("extension_rate", 0.2, round(2 / 13, 6)),
    ],
)
def test_each_rate_of_the_worked_example(name: str, expected: float, old: float | None) -> None:
    group = summarise("sq-west", "西", WORKED, {}, WEIGHTS)
    assert group.rates[name] == expected
    assert group.rates[name] != old


def test_the_score_of_the_worked_example() -> None:
    group = summarise("sq-west", "西", WORKED, {}, WEIGHTS)
    # 30 × 0.9 + 20 × 0.8 + 20 × (1 − 0.1) + 20 × (1 − 0.1) + 10 × (1 − 0.2), out of 100
    assert group.score == 87.0


def test_a_zero_denominator_is_null_not_zero() -> None:
    # every case is inside its limit: nothing is yet due, no rate can be judged
    fresh = [(Standing("accepted", **SENT), 3), (Standing("registered", registered=True), 1)]
    group = summarise("sq-east", "东", fresh, {}, WEIGHTS)
    assert (group.counts["dispatched"], group.counts["due_disposal"]) == (3, 0)
    assert (group.counts["registered"], group.counts["due_close"]) == (4, 0)
    assert group.rates == dict.fromkeys(RATES)
    assert group.score is None
    assert group.to_json()["disposal_rate"] is None
    assert summarise(None, "空", [], {}, WEIGHTS).rates["disposal_rate"] is None


def test_a_published_quarter_comes_out_of_counts_of_its_shape() -> None:
    # 福州市数字城管 2024年第一季度: 结案率 99.99%, 按期结案率 99.83%, 返工率 0.05%,
    # 延期率 0.02%, on 10 000 cases due (the published report gives rates, not counts)
    counted = [
        (Standing("closed", on_time=True, closed_on_time=True, **SENT), 9978),
        (Standing("closed", on_time=True, closed_on_time=True, reworked=True, **SENT), 5),
        (Standing("closed", on_time=True, closed_on_time=False, extended=True, **SENT), 2),
        (Standing("closed", on_time=False, closed_on_time=False, **SENT), 14),
        (Standing("accepted", past_deadline=True, **SENT), 1),
        (Standing("accepted", **SENT), 250),  # inside their limit: in no denominator
    ]
    rates = summarise(None, "合计", counted, {}, WEIGHTS).rates
    assert rates["close_rate"] == 0.9999
    assert rates["on_time_close_rate"] == 0.9983
    assert rates["rework_rate"] == 0.0005
    assert rates["extension_rate"] == 0.0002


def test_score_weighs_good_rates_up_and_bad_ones_down() -> None:
    rates = {
        "disposal_rate": 0.9,
        "on_time_rate": 0.8,
        "rework_rate": 0.1,
        "overdue_open_rate": 0.05,
        "extension_rate": 0.2,
    }
    expected = 30 * 0.9 + 20 * 0.8 + 20 * 0.9 + 20 * 0.95 + 10 * 0.8
    assert score(rates, WEIGHTS) == pytest.approx(expected)
    assert score({**rates, "disposal_rate": None}, WEIGHTS) is None
    # weights need not add up to 100: the score is out of 100 all the same
    assert score(rates, {"disposal_rate": 3, "rework_rate": 1}) == pytest.approx(
        100 * (3 * 0.9 + 0.9) / 4
    )
    assert score({**rates, "close_rate": None}, {"disposal_rate": 1, "close_rate": 0}) == 90.0


def test_weights_are_parsed_and_checked() -> None:
    assert parse_weights(None, WEIGHTS) == WEIGHTS
    assert parse_weights(" ", {"close_rate": 1.0}) == {"close_rate": 1.0}
    both = parse_weights("disposal_rate:3, on_time_close_rate:1", WEIGHTS)
    assert both == {"disposal_rate": 3, "on_time_close_rate": 1}
    for bad in ("disposal_rate", "speed:1", "disposal_rate:-1", "disposal_rate:0", "x:y:z"):
        with pytest.raises(ValidationFailed) as refused:
            parse_weights(bad, WEIGHTS)
        assert refused.value.field == "weights"


def test_the_setting_weighs_the_rates_the_figures_have() -> None:
    assert set(SCORED_RATES) == set(RATES)
    assert WEIGHTS == {
        "disposal_rate": 30.0,
        "on_time_rate": 20.0,
        "rework_rate": 20.0,
        "overdue_open_rate": 20.0,
        "extension_rate": 10.0,
    }
    assert "DISPATCH_SCORE_WEIGHTS" in DEFINITIONS["score"]


def test_tabulate_orders_the_groups_and_shows_the_empty_ones() -> None:
    counted = {
        "sq-west": [(Standing("closed", on_time=True, **SENT), 2)],
        None: [(Standing("reported"), 1)],
        "sq-east": [(Standing("accepted", past_deadline=True, **SENT), 1)],
    }
    total = summarise(None, "合计", [c for v in counted.values() for c in v], {}, WEIGHTS)
    figures = tabulate(
        GroupBy.SQUAD, counted, {}, total, WEIGHTS, lambda k: k or "未派遣", ["centre"]
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
        assert DEFINITIONS[name] == (
            f"{LABELS[name]} = {LABELS[numerator]} / {LABELS[denominator]} "
            f"({numerator} / {denominator})"
        )
    assert any("CJ/T 292" in rule and "应处置数 = 派遣数 − 按时待处置数" in rule for rule in RULES)


def test_the_api_documentation_states_every_definition_and_rule_word_for_word() -> None:
    api_md = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text("utf-8")
    section = api_md.split("## 7. Figures", 1)[1].split("## 8.", 1)[0]
    for name in (*COUNTS, *RATES, "score"):
        assert DEFINITIONS[name] in section, name
    for n, rule in enumerate(RULES, start=1):
        assert f"{n}. {rule}" in section


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
