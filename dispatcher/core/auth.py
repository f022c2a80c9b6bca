"""Who may do what (docs/API.md §2): roles, principals and the pure permission rules.

The adapter (``api_auth``) turns a bearer token into a :class:`Principal`; every handler then
asks one of the functions below, which raise :class:`~dispatcher.core.errors.Forbidden`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from dispatcher.core.errors import Forbidden
from dispatcher.core.ids import SquadId, TokenId


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    SQUAD = "squad"
    DEVICE = "device"
    AUDITOR = "auditor"


#: roles that read everything
READ_ALL: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR})
#: roles that post incidents and alerts
INTAKE: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.DEVICE})
#: roles that act on any incident
ACT_ALL: Final = frozenset({Role.ADMIN, Role.OPERATOR})

#: the id the bootstrap admin token (DISPATCH_ADMIN_TOKEN) is known by in the history
BOOTSTRAP_ADMIN_ID: Final = TokenId("admin-bootstrap")
SYSTEM_ACTOR: Final = "system"


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token."""

    token_id: TokenId
    role: Role
    name: str
    squad_id: SquadId | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        return str(self.token_id)


def require_role(principal: Principal, allowed: Iterable[Role], doing: str) -> None:
    """Raise Forbidden unless the principal's role is one of ``allowed``."""
    if principal.role not in frozenset(allowed):
        raise Forbidden(f"a {principal.role} token may not {doing}")


def may_read_incident(principal: Principal, squad_ids: Iterable[str | None]) -> bool:
    """Whether the principal may see an incident assigned to ``squad_ids`` (main and support)."""
    if principal.role in READ_ALL:
        return True
    if principal.role is Role.SQUAD and principal.squad_id is not None:
        return principal.squad_id in set(squad_ids)
    return False


def require_read_incident(principal: Principal, squad_ids: Iterable[str | None]) -> None:
    if not may_read_incident(principal, squad_ids):
        raise Forbidden("this token may not see that incident")


def may_subscribe(principal: Principal, topic: str) -> bool:
    """Whether the principal may follow a WebSocket topic (``all``, ``squad:``, ``zone:``, ...)."""
    if principal.role in READ_ALL:
        return True
    if principal.role is Role.SQUAD and principal.squad_id is not None:
        return topic == f"squad:{principal.squad_id}"
    return False


def new_secret() -> str:
    """A fresh token secret: shown once to its holder, stored only as :func:`hash_secret`."""
    return "dct_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    # Secrets are 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).digest()


def same_secret(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
