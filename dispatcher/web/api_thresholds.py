"""HTTP handler of the thresholds' breaches (考核指标阈值, docs/API.md §7):
``GET /api/v1/thresholds/breaches``.

The period's figures of a squad's tier (:func:`dispatcher.store.figures.figures`, grouped by
squad) judged by :func:`dispatcher.core.thresholds.breaches` against the deployment's
``DISPATCH_THRESHOLDS``. Readable by whoever may read those figures (``figures_scope``):
auditors, operators and admins every squad's, a squad's holder its own tier's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dispatcher.core.errors import ValidationFailed
from dispatcher.core.periods import Period, month_period, parse_period
from dispatcher.core.stats import GroupBy
from dispatcher.core.thresholds import Thresholds, breaches
from dispatcher.store.figures import figures
from dispatcher.web import context as http
from dispatcher.web.api_stats import figures_scope


def thresholds_of(rt: http.Runtime) -> Thresholds:
    """The deployment's thresholds (``DISPATCH_THRESHOLDS``)."""
    return Thresholds.from_entries(rt.settings.thresholds.entries)


def _period(request: web.Request, rt: http.Runtime, now: datetime) -> Period:
    """``period=YYYY-MM`` (a month), else ``from``/``to``/``as_of`` as ``/api/v1/stats``."""
    query = request.query
    month = query.get("period")
    tz = rt.settings.zone
    if month:
        try:
            return month_period(month, tz, now)
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message.replace("month:", "period:"), field="period"
            ) from None
    return parse_period(query.get("from"), query.get("to"), query.get("as_of"), tz, now)


def thresholds_json(thresholds: Thresholds) -> dict[str, Any]:
    return {
        "every": {name: t.to_json() for name, t in thresholds.every.items()},
        "by_tier": {
            tier: {name: t.to_json() for name, t in own.items()}
            for tier, own in thresholds.by_tier.items()
        },
    }


async def get_breaches(request: web.Request) -> web.Response:
    """The breaches of the thresholds by the squads of a tier in a period."""
    rt = http.runtime(request)
    squad_id = figures_scope(http.principal(request), request.query.get("squad_id"))
    if squad_id is not None and squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: unknown squad {squad_id!r}", field="squad_id")
    period = _period(request, rt, datetime.now(UTC))
    tz = rt.settings.zone
    found = await figures(
        rt.pool,
        rt.ref,
        tz,
        period,
        [GroupBy.SQUAD],
        weights=rt.settings.score_weights.as_dict(),
        squad_id=squad_id,
    )
    counts = {g.key: g.counts for g in found[GroupBy.SQUAD].groups if g.key is not None}
    thresholds = thresholds_of(rt)
    judged = breaches(counts, rt.ref.squads, thresholds, squad_id)
    span = period.to_json(tz)
    label = request.query.get("period") or None
    return http.json_response(
        {
            **span,
            "period": label,
            "squad_id": squad_id,
            "thresholds": thresholds_json(thresholds),
            "breaches": [{**b.to_json(), "period": {**span, "label": label}} for b in judged],
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/thresholds/breaches", get_breaches)
