"""Instants as the API writes and reads them: RFC 3339 with the deployment's offset."""

from __future__ import annotations

from datetime import datetime, tzinfo


def format_time(moment: datetime | None, tz: tzinfo) -> str | None:
    """RFC 3339 with the deployment's offset, milliseconds kept."""
    if moment is None:
        return None
    return moment.astimezone(tz).isoformat(timespec="milliseconds")


def in_zone(moment: datetime, tz: tzinfo | None) -> str:
    """RFC 3339 in the deployment's offset (as the instant has it when ``tz`` is None), at the
    instant's full precision: what an incident's document keeps is read back exactly."""
    return (moment.astimezone(tz) if tz is not None else moment).isoformat()


def parse_time(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(text).__name__}")
    return datetime.fromisoformat(text)
