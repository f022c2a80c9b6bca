"""What the centre knows of a 12345 work order (工单) besides the case: :class:`WorkOrder`.

接诉即办 as the hotlines practise it holds the bureau to the platform's clocks and to the caller:

- the platform may set the order's deadlines: its closure deadline (办结时限), which then is
  the case deadline, and a contact deadline (联系时限) by which the squad must have called the
  caller back (联系诉求人); without one the contact deadline is the deployment's number of
  working hours from receipt (:attr:`HotlineRules.contact_hours`);
- the contact itself: when, how, by whom, and whether it was late;
- 退单 (:class:`SendBack`): the order sent back to the platform (e.g. 非本部门职责), asked by a
  squad or an operator with a reason, decided by the centre, only within the platform's window;
- 回访 (:class:`Visit`): the caller's satisfaction with the closed order (满意, 基本满意,
  不满意); 不满意 sends the order back to its squad to be handled again (重办).

These are typed facts kept in the incident's ``progress`` (the document key ``hotline``);
the rules that change them are :mod:`dispatcher.core.hotline`'s. Pure: no I/O, every instant
is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.times import in_zone, parse_time


class ContactMethod(StrEnum):
    """How the caller was contacted (联系方式)."""

    PHONE = "phone"  # 电话
    SMS = "sms"  # 短信
    VISIT = "visit"  # 上门
    OTHER = "other"  # 其他


class Satisfaction(StrEnum):
    """The caller's answer at 回访."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意

    @property
    def name_zh(self) -> str:
        return SATISFACTION_ZH[self]


SATISFACTION_ZH: Final = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
}


class SendBackReason(StrEnum):
    """Why an order is sent back to the platform (退单理由)."""

    NOT_COMPETENT = "not_competent"  # 非本部门职责
    OUTSIDE_AREA = "outside_area"  # 不属本辖区
    DUPLICATE = "duplicate"  # 重复派单
    INFORMATION_MISSING = "information_missing"  # 诉求信息不全, 无法办理
    OTHER = "other"  # 其他


SENDBACK_REASON_ZH: Final = {
    SendBackReason.NOT_COMPETENT: "非本部门职责",
    SendBackReason.OUTSIDE_AREA: "不属本辖区",
    SendBackReason.DUPLICATE: "重复派单",
    SendBackReason.INFORMATION_MISSING: "诉求信息不全",
    SendBackReason.OTHER: "其他",
}


@dataclass(frozen=True)
class HotlineRules:
    """The deployment's 接诉即办 rules (settings ``DISPATCH_HOTLINE_*``, docs/DEPLOY.md)."""

    #: working hours from receipt by which the caller must be contacted, unless the platform
    #: sets the contact deadline
    contact_hours: float = 2.0
    #: working hours from receipt within which an order may be sent back (退单)
    sendback_hours: float = 8.0
    #: whether 基本满意 counts toward 满意率 (as 满意 does)
    basically_counts: bool = True

    @property
    def contact_limit(self) -> timedelta:
        return timedelta(hours=self.contact_hours)

    @property
    def sendback_limit(self) -> timedelta:
        return timedelta(hours=self.sendback_hours)


DEFAULT_HOTLINE_RULES: Final = HotlineRules()


def _time(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def _text(moment: datetime | None, tz: tzinfo | None = None) -> str | None:
    return in_zone(moment, tz) if moment is not None else None


@dataclass(frozen=True)
class SendBack:
    """A 退单: asked with a reason, then approved or refused by the centre."""

    reason_code: SendBackReason
    reason: str
    asked_at: datetime
    asked_by: str
    status: str = "pending"  # pending | approved | refused
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_note: str | None = None

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {
            "reason_code": self.reason_code.value,
            "reason": self.reason,
            "asked_at": in_zone(self.asked_at, tz),
            "asked_by": self.asked_by,
            "status": self.status,
            "decided_at": _text(self.decided_at, tz),
            "decided_by": self.decided_by,
            "decision_note": self.decision_note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendBack:
        asked = parse_time(data["asked_at"])
        assert asked is not None
        return cls(
            reason_code=SendBackReason(data["reason_code"]),
            reason=str(data.get("reason", "")),
            asked_at=asked,
            asked_by=str(data["asked_by"]),
            status=str(data.get("status", "pending")),
            decided_at=_time(data.get("decided_at")),
            decided_by=data.get("decided_by"),
            decision_note=data.get("decision_note"),
        )


@dataclass(frozen=True)
class Visit:
    """One 回访: the caller's satisfaction with the order as it was closed."""

    satisfaction: Satisfaction
    at: datetime
    by: str
    note: str | None = None

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {
            "satisfaction": self.satisfaction.value,
            "at": in_zone(self.at, tz),
            "by": self.by,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Visit:
        at = parse_time(data["at"])
        assert at is not None
        return cls(Satisfaction(data["satisfaction"]), at, str(data["by"]), data.get("note"))


@dataclass(frozen=True)
class WorkOrder:
    """The 12345 facts of one order (see the module's note)."""

    #: the platform's closure deadline (办结时限), when it set one: the case deadline
    closure_deadline: datetime | None = None
    #: when the caller must have been contacted (联系时限), the platform's or the default
    contact_deadline: datetime | None = None
    #: whether the platform set the contact deadline (else the deployment's default)
    contact_set_by_platform: bool = False
    #: the contact (联系诉求人): when, how, by whom, and whether after the contact deadline
    contacted_at: datetime | None = None
    contact_method: ContactMethod | None = None
    contacted_by: str | None = None
    contact_note: str | None = None
    contacted_late: bool | None = None
    #: the 退单s asked, oldest first (the last may be pending)
    sendbacks: tuple[SendBack, ...] = ()
    #: the 回访s, oldest first; the last is the order's satisfaction
    visits: tuple[Visit, ...] = ()
    #: how many times a 不满意 sent the order back to be handled again (不满意重办)
    rehandled: int = 0
    #: the colour the timers gave the contact clock (yellow, red), once each
    contact_alerted: str | None = None

    def but(self, **changes: Any) -> WorkOrder:
        return WorkOrder(**{**self.__dict__, **changes})

    @property
    def pending_sendback(self) -> SendBack | None:
        last = self.sendbacks[-1] if self.sendbacks else None
        return last if last is not None and last.status == "pending" else None

    @property
    def sent_back(self) -> SendBack | None:
        """The approved 退单, if the order was sent back to the platform."""
        return next((s for s in self.sendbacks if s.status == "approved"), None)

    @property
    def satisfaction(self) -> Satisfaction | None:
        return self.visits[-1].satisfaction if self.visits else None

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {
            "closure_deadline": _text(self.closure_deadline, tz),
            "contact_deadline": _text(self.contact_deadline, tz),
            "contact_set_by_platform": self.contact_set_by_platform,
            "contacted_at": _text(self.contacted_at, tz),
            "contact_method": self.contact_method.value if self.contact_method else None,
            "contacted_by": self.contacted_by,
            "contact_note": self.contact_note,
            "contacted_late": self.contacted_late,
            "sendbacks": [s.to_json(tz) for s in self.sendbacks],
            "visits": [v.to_json(tz) for v in self.visits],
            "satisfaction": self.satisfaction.value if self.satisfaction else None,
            "rehandled": self.rehandled,
            "contact_alerted": self.contact_alerted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkOrder:
        method = data.get("contact_method")
        return cls(
            closure_deadline=_time(data.get("closure_deadline")),
            contact_deadline=_time(data.get("contact_deadline")),
            contact_set_by_platform=bool(data.get("contact_set_by_platform", False)),
            contacted_at=_time(data.get("contacted_at")),
            contact_method=ContactMethod(method) if method else None,
            contacted_by=data.get("contacted_by"),
            contact_note=data.get("contact_note"),
            contacted_late=data.get("contacted_late"),
            sendbacks=tuple(SendBack.from_json(s) for s in data.get("sendbacks") or ()),
            visits=tuple(Visit.from_json(v) for v in data.get("visits") or ()),
            rehandled=int(data.get("rehandled") or 0),
            contact_alerted=data.get("contact_alerted"),
        )
