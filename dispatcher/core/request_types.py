"""Request types (诉求类型) of the 12345 hotline, and the case limit they set.

A 12345 work order has a type besides what it is about: a 投诉 about 占道经营 is category
占道经营 (e.g. ``200504``) and type :attr:`RequestType.COMPLAINT`. The type is orthogonal to the
category (小类); it is not a category of the catalogue (the entries ``200602``–``200605`` that
stood for 咨询, 求助, 投诉 and 建议 were removed in migration 0015).

The type sets the hotline's handling limit (办理时限) where the category has none of its own
for the hotline. :func:`case_limit` is the one rule, applied when the case clock starts
(``dispatcher.core.lifecycle.register``):

1. an incident from the hotline whose category has its own hotline limit
   (``hotline_limit_days``): that limit, in working days;
2. an incident from the hotline whose category is urgent or runs on the continuous clock
   (a hazard, a fire, noise at night: what must be stopped now): the category's own clock
   and limit, as for any other source. A matter to be dealt with at once stays so whoever
   reports it; the hotline forwards such calls as urgent work orders (紧急工单);
3. any other incident from the hotline with a type: the type's limit
   (:class:`HotlineLimits`, the deployment's ``DISPATCH_HOTLINE_LIMITS``), in working days,
   in place of the category's clock and limit, which are the field limits of 立案结案标准
   (CJ/T 315 practice: hours for what an inspector or a camera finds) and say nothing of
   the time a hotline work order is given;
4. an incident whose category is no longer in the catalogue but that has a type (a record
   filed under one of the removed type codes): the type's limit;
5. anything else: the category's clock and limit.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from enum import StrEnum
from typing import Final

from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import ClockKind


class RequestType(StrEnum):
    """What a 12345 caller asks for (诉求类型), whatever the problem is."""

    CONSULT = "consult"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    SUGGESTION = "suggestion"  # 建议
    REPORT = "report"  # 举报

    @property
    def name_zh(self) -> str:
        return NAMES_ZH[self]


NAMES_ZH: Final = {
    RequestType.CONSULT: "咨询",
    RequestType.HELP: "求助",
    RequestType.COMPLAINT: "投诉",
    RequestType.SUGGESTION: "建议",
    RequestType.REPORT: "举报",
}

#: the type a hotline report is taken as when it names none (flagged ``request_type_assumed``)
ASSUMED: Final = RequestType.COMPLAINT

#: the catalogue codes that stood for a type before migration 0015, and the type of each
FORMER_TYPE_CODES: Final = {
    "200602": RequestType.CONSULT,
    "200603": RequestType.HELP,
    "200604": RequestType.COMPLAINT,
    "200605": RequestType.SUGGESTION,
}


@dataclass(frozen=True)
class HotlineLimits:
    """The hotline's handling limit of each type, in working days (工作日).

    The defaults are 12345 practice as hotlines publish it (sign for within 1 working day;
    咨询 answered within 2–3 working days, 求助 within 5, 投诉 and 建议 within up to 13;
    举报 as 投诉). They are a deployment's choice, not a national rule: Beijing's 接诉即办,
    for one, answers by response levels (2 h, 24 h, 7 days, 15 days) instead. The deployment
    sets its own with ``DISPATCH_HOTLINE_LIMITS``.
    """

    consult: float = 3
    help: float = 5
    complaint: float = 13
    suggestion: float = 13
    report: float = 13

    def __post_init__(self) -> None:
        for f in fields(self):
            days = getattr(self, f.name)
            if not 0 < days <= 366:
                raise ValueError(f"hotline limit of {f.name}: {days} is not in (0, 366] days")

    def of(self, request_type: RequestType) -> timedelta:
        """The limit of ``request_type`` as an amount of the working-days clock."""
        days: float = getattr(self, request_type.value)
        return timedelta(days=days)


DEFAULT_HOTLINE_LIMITS: Final = HotlineLimits()


def case_limit(
    category: Category | None,
    request_type: RequestType | None,
    *,
    from_hotline: bool,
    limits: HotlineLimits,
) -> tuple[ClockKind, timedelta]:
    """The clock and limit a case starts with (the rule of the module's note).

    Raises ValueError when there is neither a category nor a type to take a limit from; the
    caller refuses to register such an incident before asking.
    """
    if category is None:
        if request_type is None:
            raise ValueError("no category and no request type: no limit to start a clock on")
        return ClockKind.WORKING_DAYS, limits.of(request_type)
    if from_hotline and category.hotline_limit_days is not None:
        return ClockKind.WORKING_DAYS, timedelta(days=category.hotline_limit_days)
    if from_hotline and request_type is not None and not immediate(category):
        return ClockKind.WORKING_DAYS, limits.of(request_type)
    return ClockKind(category.clock), category.limit_timedelta


def immediate(category: Category) -> bool:
    """Whether a category is dealt with at once whoever reports it (rule 2 of the module's
    note): urgent, or on the continuous clock."""
    return category.priority is Priority.URGENT or category.clock == ClockKind.CONTINUOUS.value
