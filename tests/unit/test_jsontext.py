"""JSON text through orjson: the canonical text is the standard library's, byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dispatcher.core import jsontext


def stdlib(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# every JSON value (finite floats of any size, integers past 64 bits, any Unicode text but
# lone surrogates, which UTF-8 cannot carry)
texts = st.text(st.characters(blacklist_categories=("Cs",)))
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers()
values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=2000)
@given(values)
@example(1e-05)
@example([2.4e-06, "0.00001", "device-7"])
@example({"b": 1e-300, "a": 1e16, "\U0001f600": -0.0, "\uffff": 2**70})
@example('\x00\x1f\x7f\u2028"\\/')
def test_the_canonical_text_is_the_standard_librarys(value: Any) -> None:
    assert jsontext.canonical(value) == stdlib(value)


def test_floats_the_two_spell_apart_are_written_as_the_standard_library_writes_them() -> None:
    # orjson alone writes these 0.00001 and 2.4e-6
    assert jsontext.canonical([1e-05, 2.4e-06]) == "[1e-05,2.4e-06]"
