"""JSON text for the hot paths (documents, events, answers), through orjson.

Intake writes each incident as JSON several times (its row, its events, the answer); the
standard library's encoder was a tenth of the server's time per report. orjson writes the
same JSON values about five times faster. What it spells differently is spelling only: a
number like 1e-05 comes out as 0.00001. Where the exact text matters (the audit chain hashes
a canonical text, ``dispatcher.core.audit``), :func:`canonical` gives the standard library's
text byte for byte.

Each function falls back to the standard library for what orjson refuses (integers beyond
64 bits, nesting deeper than 254), so a value either module accepts is accepted here.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

#: keys that are not strings are written as json.dumps writes them; datetimes and
#: dataclasses go to ``default`` as json.dumps sends them, so ``loose`` keeps its meaning
_LOOSE: Final = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


#: where orjson's text may differ from the standard library's: floats below 1e-4, which
#: orjson writes as 0.0000ddd or with a one-digit exponent (e-6), Python as 1e-05 and 1e-06
_SPELLED_OTHERWISE: Final = re.compile(r"(?<![\d.])0\.0000|\de-\d(?!\d)")


def canonical(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``,
    the same text, faster.

    orjson and the standard library write every JSON value alike except floats below 1e-4;
    when orjson's text holds something that may be one of them (a string that looks like
    one too), or when orjson refuses the value, the standard library writes it. (NaN and
    the infinities, which JSON cannot spell and ``jsonb`` refuses, come out as null.)
    """
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        text = None
    # (the two substring tests take 1.2 µs on a 1 KB event, the expression 37: most texts
    # hold neither substring)
    if text is None or (
        ("0.0000" in text or "e-" in text) and _SPELLED_OTHERWISE.search(text) is not None
    ):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text


def compact(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, faster."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loose_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``, anything JSON has no type for written as ``str()``
    (``json.dumps(..., default=str)``): for answers, whose values come from many places."""
    try:
        return orjson.dumps(value, default=str, option=_LOOSE)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def loose(value: Any) -> str:
    """:func:`loose_bytes` as text."""
    return loose_bytes(value).decode()


def read(text: str | bytes) -> Any:
    """The value of a JSON text this system wrote (stored documents and events)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
