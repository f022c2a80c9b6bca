"""A district's day, for the demo: how many reports come in each hour, and what the people of
the centre do with each case next.

Pure: a seeded ``random.Random`` and what is known of a case in, a :class:`Step` out. The live
simulator (:mod:`dispatcher.demo.workday`) takes each step through the HTTP API with the token
of whoever takes it (a squad's phone, the centre's operator, the 12345 platform); the 30-day
history (:mod:`dispatcher.demo.history`) takes the same steps through the same core decisions
at the instants they fall on.

The numbers are a district centre's ordinary day, not any one city's statistics: about 3,000
reports a day, few at night, a peak in the late morning and another in the evening; most cases
signed for within half an hour (a few near its end: yellow) and handled within two hours; one in
ten sent back to rework by the inspector; a few left lying (they run late and go red); 12345
callers rung back a few hours after the case is closed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Final

#: the offset the simulated people live in (Asia/Shanghai has no DST)
CST: Final = timezone(timedelta(hours=8), "CST")

#: reports a day at the default rate (a district centre sees 1,000-3,000)
PER_DAY: Final = 3000.0

#: the share of a day's reports in each hour 0-23 (local time): low at night, a peak in the
#: late morning (cameras and inspectors on their rounds) and one in the evening (night markets,
#: noise, hotline calls after work)
HOURLY: Final[tuple[float, ...]] = (
    1.2, 0.8, 0.6, 0.5, 0.5, 0.9,  # 00-05
    2.0, 3.5, 5.0, 6.5, 7.5, 7.8,  # 06-11
    6.0, 5.2, 5.6, 5.8, 5.6, 5.4,  # 12-17
    6.0, 6.8, 6.2, 4.6, 3.2, 2.0,  # 18-23
)  # fmt: skip

#: the night shift, from and to the local hour, and how much longer everyone takes then
NIGHT: Final = (22, 7)
NIGHT_SLOWER: Final = 1.6

#: outcomes (处置结果) a squad writes when it resolves, weighted
OUTCOMES: Final = (
    ("corrected_on_spot", 55),
    ("advised_and_educated", 20),
    ("cleared", 12),
    ("no_violation_found", 6),
    ("case_filed", 4),
    ("handed_to_department", 3),
)
NOTES: Final[dict[str, str]] = {
    "corrected_on_spot": "现场责令改正，当事人已整改",
    "advised_and_educated": "已对当事人进行劝导教育，现场已恢复",
    "cleared": "已组织清理，现场整洁",
    "no_violation_found": "到场核查，未发现反映问题",
    "case_filed": "当事人拒不整改，已立案查处",
    "handed_to_department": "不属城管职责，已移交相关部门",
}
RETURN_REASONS: Final = (
    "不属本中队辖区，请改派",
    "非城管职责，建议改派相关部门",
    "地址不详，无法核实",
)
VERIFY_FAILS: Final = ("现场复核仍有问题，请返工", "照片不能反映整改结果，请返工")
SATISFACTION: Final = (("satisfied", 78), ("basically_satisfied", 16), ("dissatisfied", 6))


class Actor(StrEnum):
    """Who takes a step, and so whose token the simulator uses."""

    OPERATOR = "operator"  # the centre's 值班员 (registers, dispatches, verifies, approves)
    SQUAD = "squad"  # the squad's phone (signs for, resolves, returns, asks for more time)
    PLATFORM = "platform"  # the 12345 platform that sent the work order (回访)


@dataclass(frozen=True)
class Step:
    """What to do to a case next, by whom, after how many seconds of simulated time.

    ``path`` is ``actions`` (docs/API.md §5) or ``hotline`` (§5.3); ``body`` the request body.
    ``photo``: upload a photo through the media API first and name it in ``media``.
    ``then``: a step that follows this one without the case changing state (the operator's
    decision on an extension the squad asked for).
    """

    actor: Actor
    body: dict[str, Any]
    delay_s: float
    path: str = "actions"
    photo: bool = False
    then: Step | None = None
    #: facts for the tests and the log: why this step (``late`` for a case left lying)
    notes: tuple[str, ...] = field(default=())


def per_hour(hour: int, per_day: float = PER_DAY) -> float:
    """How many reports come in during the local hour ``hour`` (0-23) at ``per_day`` a day."""
    return per_day * HOURLY[hour % 24] / sum(HOURLY)


def per_minute(moment: datetime, per_day: float = PER_DAY) -> float:
    """The rate of reports a minute at ``moment`` (aware), on the daily curve."""
    return per_hour(moment.astimezone(CST).hour, per_day) / 60.0


def arrivals(rng: random.Random, start: datetime, end: datetime, per_day: float) -> list[datetime]:
    """The instants reports come in between ``start`` and ``end``, a Poisson process whose rate
    follows the daily curve (hour by hour)."""
    found: list[datetime] = []
    moment = start
    while moment < end:
        rate = per_minute(moment, per_day) / 60.0  # a second
        moment = moment + timedelta(seconds=rng.expovariate(rate) if rate > 0 else 3600.0)
        if moment < end:
            found.append(moment)
    return found


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _minutes(rng: random.Random, low: float, mode: float, high: float) -> float:
    return 60.0 * rng.triangular(low, high, mode)


def next_step(rng: random.Random, case: dict[str, Any], hour: int | None = None) -> Step | None:
    """What the centre does next with ``case`` (an incident as the API answers it: ``state``,
    ``source``, ``rework_count``...), or None when nothing is to be done (a final state, or a
    closed case that is no 12345 order or was rung back already: the caller passes
    ``visited`` true then). ``hour`` is the local hour the case is seen at: the night shift
    (22:00-07:00) is thin, and the centre and the squads take longer then.

    Deterministic in ``rng``: seed it with the case's id and version to decide the same way
    each time the case is seen unchanged.
    """
    step = _next_step(rng, case)
    night = hour is not None and (hour >= NIGHT[0] or hour < NIGHT[1])
    if step is None or not night or "late" in step.notes or step.actor is Actor.PLATFORM:
        return step
    return replace(step, delay_s=step.delay_s * NIGHT_SLOWER)


def _next_step(rng: random.Random, case: dict[str, Any]) -> Step | None:
    state = case.get("state")
    if state == "reported":
        if rng.random() < 0.04:
            return Step(Actor.OPERATOR, {"action": "reject", "reason": "重复或无效上报"}, 300.0)
        return Step(Actor.OPERATOR, {"action": "register"}, _minutes(rng, 1, 4, 14))
    if state in ("registered", "returned"):
        return Step(Actor.OPERATOR, {"action": "dispatch"}, _minutes(rng, 1, 3, 10))
    if state == "dispatched":
        draw = rng.random()
        if draw < 0.03:  # left lying: the squad does not sign for it within its limit
            return Step(
                Actor.SQUAD, {"action": "accept"}, _minutes(rng, 40, 90, 240), notes=("late",)
            )
        if draw < 0.07 and not case.get("rework_count"):
            reason = rng.choice(RETURN_REASONS)
            return Step(
                Actor.SQUAD, {"action": "return", "reason": reason}, _minutes(rng, 3, 8, 20)
            )
        return Step(Actor.SQUAD, {"action": "accept"}, _minutes(rng, 1, 8, 28))
    if state == "accepted":
        outcome = _pick(rng, OUTCOMES)
        resolve = {"action": "resolve", "outcome": outcome, "note": NOTES[outcome]}
        draw = rng.random()
        if draw < 0.04:  # a hard one: more time asked for, the centre agrees
            approve = Step(Actor.OPERATOR, {"action": "approve_extension", "approved": True}, 600.0)
            ask = {"action": "extend", "hours": 2, "reason": "当事人需时间整改，申请延期"}
            return Step(Actor.SQUAD, ask, _minutes(rng, 5, 10, 20), then=approve)
        if draw < 0.08:  # handled late: past its limit
            return Step(
                Actor.SQUAD, resolve, _minutes(rng, 180, 300, 600), photo=True, notes=("late",)
            )
        return Step(Actor.SQUAD, resolve, _minutes(rng, 8, 35, 150), photo=True)
    if state == "resolved":
        if rng.random() < 0.1:
            fail = {"action": "verify", "passed": False, "note": rng.choice(VERIFY_FAILS)}
            return Step(Actor.OPERATOR, fail, _minutes(rng, 5, 12, 28))
        return Step(Actor.OPERATOR, {"action": "verify", "passed": True}, _minutes(rng, 3, 10, 29))
    if state == "closed" and case.get("source") == "hotline" and not case.get("visited"):
        body = {"action": "visit", "satisfaction": _pick(rng, SATISFACTION)}
        return Step(Actor.PLATFORM, body, _minutes(rng, 20, 90, 300), path="hotline")
    return None


def case_rng(seed: int, incident_id: str, version: int) -> random.Random:
    """The generator :func:`next_step` is seeded with for one case as it stands."""
    return random.Random(f"{seed}:{incident_id}:{version}")


def jpeg(rng: random.Random) -> bytes:
    """A small grey 8×8 baseline JPEG of a random shade (a squad's photo, for the demo)."""
    shade = rng.randint(128, 255)  # the DC difference, in Huffman category 8
    bits = "0" + format(shade, "08b") + "0"  # DC: category 8, its 8 bits; AC: end of block
    bits += "1" * (-len(bits) % 8)
    scan = bytearray()
    for i in range(0, len(bits), 8):
        byte = int(bits[i : i + 8], 2)
        scan.append(byte)
        if byte == 0xFF:
            scan.append(0)
    dqt = b"\xff\xdb\x00\x43\x00" + bytes([1] * 64)
    sof = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    counts_dc = bytes([1] + [0] * 15)
    counts_ac = bytes([1] + [0] * 15)
    dht = (
        b"\xff\xc4\x00\x14\x00" + counts_dc + b"\x08"  # DC table 0: one code, category 8
        b"\xff\xc4\x00\x14\x10" + counts_ac + b"\x00"  # AC table 0: one code, end of block
    )
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + bytes(scan) + b"\xff\xd9"
