"""The 12345 figures from the stored work orders (docs/API.md §7, 接诉即办).

The hotline's orders received in a period are read with their documents (an order's
contact, 退单 and 回访 are kept, with their instants, in its ``progress.hotline``); the core
says how each stood at ``as_of`` (:func:`dispatcher.core.hotline.standing`) and counts them
(:func:`dispatcher.core.stats.hotline_figures`). A month of a district's hotline orders is a
few thousand rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dispatcher.core.hotline import standing
from dispatcher.core.periods import Period
from dispatcher.core.stats import HotlineFigures, hotline_figures
from dispatcher.core.workorder import HotlineRules
from dispatcher.store import records as store

#: $1 from, $2 received before, $3 the squads (NULL: all)
SELECT_ORDERS: Final = """
SELECT doc FROM incidents
WHERE source = 'hotline' AND received_at >= $1 AND received_at < $2
  AND ($3::text[] IS NULL OR squad_id = ANY($3::text[]))"""


async def figures(
    pool: store.Pool,
    period: Period,
    rules: HotlineRules,
    *,
    squad_ids: Sequence[str] | None = None,
) -> HotlineFigures:
    """The 12345 figures of the orders received in ``period``, judged at its ``as_of``;
    ``squad_ids`` counts only the orders last assigned to those squads."""
    rows = await pool.fetch(
        SELECT_ORDERS,
        period.start,
        period.received_before,
        list(squad_ids) if squad_ids is not None else None,
    )
    orders = (store.decode_doc(r["doc"]) for r in rows)
    return hotline_figures((standing(o, period.as_of) for o in orders), rules.basically_counts)
