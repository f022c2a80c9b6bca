"""Turning pydantic's validation errors into ours, naming the field."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, ValidationError

from dispatcher.core.errors import BadRequest, ValidationFailed


def validation_error(exc: ValidationError) -> ValidationFailed | BadRequest:
    """Translate pydantic's first error into ours, naming the field (dotted path)."""
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return BadRequest(f"the body is not valid JSON: {first['msg']}")
    field = ".".join(str(p) for p in first["loc"]) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(f"{field}: {message}" if field else message, field=field)


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store U+0000 in text or jsonb: refuse it here, naming the field,
    # rather than failing a whole group-committed batch later
    if "\x00" in value:
        raise ValueError("text may not contain the NUL character (U+0000)")
    return value


#: a string that PostgreSQL can store
Clean: Final = AfterValidator(_no_nul)
CleanStr = Annotated[str, Clean]
