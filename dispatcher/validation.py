"""Turning pydantic's validation errors into ours, naming the field."""

from __future__ import annotations

from pydantic import ValidationError

from dispatcher.errors import BadRequest, ValidationFailed


def validation_error(exc: ValidationError) -> ValidationFailed | BadRequest:
    """Translate pydantic's first error into ours, naming the field (dotted path)."""
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return BadRequest(f"the body is not valid JSON: {first['msg']}")
    field = ".".join(str(p) for p in first["loc"]) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(f"{field}: {message}" if field else message, field=field)
