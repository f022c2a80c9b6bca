"""Errors of the dispatcher package, each with a stable code on the wire.

Tree::

    DispatchError
    ├── BadRequest              400  the body cannot be parsed
    ├── ValidationFailed        422  parseable, but a field is wrong (names the field)
    ├── Unauthorized            401  no token, or an unknown, expired or revoked one
    ├── Forbidden               403  the token's role may not do this
    ├── NotFound                404
    ├── Conflict                409  e.g. invalid_transition
    ├── PayloadTooLarge         413
    ├── RateLimited             429  carries retry_after
    └── Unavailable             503  PostgreSQL (or another dependency) is down; carries retry_after

The HTTP status of each is chosen in one place, the error middleware in ``app``.
"""

from __future__ import annotations

from typing import Any, Final

# Codes on the wire.
BAD_REQUEST: Final = "bad_request"
INVALID: Final = "invalid"
UNAUTHORIZED: Final = "unauthorized"
FORBIDDEN: Final = "forbidden"
NOT_FOUND: Final = "not_found"
INVALID_TRANSITION: Final = "invalid_transition"
CONFLICT: Final = "conflict"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
RATE_LIMITED: Final = "rate_limited"
UNAVAILABLE: Final = "unavailable"
INVALID_ZONES: Final = "invalid_zones"


class DispatchError(Exception):
    """Base of every error the dispatcher raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON body sent to the client: ``{"error": {"code", "message", "field"?, ...}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.details)
        return {"error": error}


class BadRequest(DispatchError):
    status = 400
    code = BAD_REQUEST


class ValidationFailed(DispatchError):
    status = 422
    code = INVALID


class Unauthorized(DispatchError):
    status = 401
    code = UNAUTHORIZED


class Forbidden(DispatchError):
    status = 403
    code = FORBIDDEN


class NotFound(DispatchError):
    status = 404
    code = NOT_FOUND


class Conflict(DispatchError):
    status = 409
    code = CONFLICT


class InvalidTransition(Conflict):
    code = INVALID_TRANSITION


class PayloadTooLarge(DispatchError):
    status = 413
    code = PAYLOAD_TOO_LARGE


class RateLimited(DispatchError):
    status = 429
    code = RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DispatchError):
    status = 503
    code = UNAVAILABLE

    def __init__(self, message: str, *, retry_after: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
