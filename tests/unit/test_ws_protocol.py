"""docs/API.md §6 describes every message the server sends on /ws: the history's event and step
types (every dotted ``StrEnum`` of the core: incidents, supervision items, inspections,
enforcement cases) and every ``"type"`` the real-time code and the handlers write, but the
control messages between processes (``Control.apply``'s, never sent to a client)."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import re
from pathlib import Path

import dispatcher.core

ROOT = Path(__file__).resolve().parents[2]
#: JSON Schema's words, which the same pattern finds in the handlers' schemas
SCHEMA_WORDS = frozenset({"object", "string", "integer", "number", "array", "boolean", "null"})
TYPE = re.compile(r'"type":\s*"([a-z_.]+)"')
DOTTED = re.compile(r"[a-z_]+\.[a-z_]+")
TYPE_NAME = re.compile(r'"type":\s*([A-Z][A-Z_]+)\b')
CONSTANT = re.compile(r'^([A-Z][A-Z_]+)(?::\s*Final(?:\[str\])?)?\s*=\s*"([a-z_.]+)"', re.M)


def section_6() -> str:
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    return text[text.index("## 6. Real time") : text.index("## 7. ")]


def history_types() -> set[str]:
    """The values of every core enum whose values are all dotted (``incident.created``...)."""
    found: set[str] = set()
    for module in pkgutil.iter_modules(dispatcher.core.__path__):
        loaded = importlib.import_module(f"dispatcher.core.{module.name}")
        for value in vars(loaded).values():
            if not (isinstance(value, type) and issubclass(value, enum.StrEnum)):
                continue
            values = [str(member.value) for member in value]
            if values and all(DOTTED.fullmatch(v) for v in values):
                found.update(values)
    return found


def written_types() -> set[str]:
    """Every ``"type": "..."`` of the real-time code and the handlers, and every ``"type":
    NAME`` of those and of the core, NAME a constant of theirs (``UNIT_MOVED``)."""
    outer = [*(ROOT / "realtime").glob("*.py"), *(ROOT / "dispatcher" / "web").glob("*.py")]
    core = list((ROOT / "dispatcher" / "core").glob("*.py"))
    found: set[str] = set()
    constants: dict[str, str] = {}
    named: set[str] = set()
    for path in [*outer, *core]:
        text = path.read_text(encoding="utf-8")
        if path in outer:
            found.update(TYPE.findall(text))
        constants.update(CONSTANT.findall(text))
        named.update(TYPE_NAME.findall(text))
    found.update(constants[name] for name in named if name in constants)
    return found - SCHEMA_WORDS


def control_types() -> set[str]:
    text = (ROOT / "dispatcher" / "web" / "context.py").read_text(encoding="utf-8")
    return set(re.findall(r'kind == "([a-z_.]+)"', text))


def test_every_message_the_server_sends_is_described() -> None:
    described = section_6()
    sent = (history_types() | written_types()) - control_types()
    assert {"incident.created", "supervision.opened", "case.opened", "unit.moved"} <= sent
    assert {"subscribed", "pong", "error", "feed", "ack", "duty.checked_in"} <= sent
    missing = sorted(
        t for t in sent if f"`{t}`" not in described and f'"type": "{t}"' not in described
    )
    assert not missing, f"describe these /ws messages in docs/API.md §6: {missing}"


def test_control_messages_stay_between_processes() -> None:
    # they reach the other processes through Redis, never a client: §6 does not list them
    assert control_types() == {
        "reference.changed",
        "calendar.changed",
        "token.revoked",
        "person.changed",
    }
