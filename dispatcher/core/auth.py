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
    """Who is calling: the holder of a valid token, or a person signed in to the pages.

    ``token_id`` is what the history records as the actor: the token's id, or the person's
    id (``person`` is then true). ``scope`` is the squad and every squad below it in the
    command tiers (``dispatcher.core.tiers.subtree``), filled in from the reference snapshot
    when the caller is authenticated: a squad's holder sees, acts on and subscribes to the
    incidents of every squad in it.
    """

    token_id: TokenId
    role: Role
    name: str
    squad_id: SquadId | None = None
    expires_at: datetime | None = None
    scope: frozenset[str] = frozenset()
    person: bool = False

    @property
    def actor(self) -> str:
        return str(self.token_id)

    def covers(self, squad_ids: Iterable[str | None]) -> bool:
        """Whether one of ``squad_ids`` is the principal's squad or a squad below it."""
        own = self.scope or ({self.squad_id} if self.squad_id else set())
        return any(s in own for s in squad_ids if s)

    def squads(self) -> frozenset[str]:
        """The squads the principal answers for (its own and those below); empty if none."""
        if self.scope:
            return self.scope
        return frozenset({self.squad_id}) if self.squad_id else frozenset()


def require_role(principal: Principal, allowed: Iterable[Role], doing: str) -> None:
    """Raise Forbidden unless the principal's role is one of ``allowed``."""
    if principal.role not in frozenset(allowed):
        raise Forbidden(f"a {principal.role} token may not {doing}")


def may_read_incident(principal: Principal, squad_ids: Iterable[str | None]) -> bool:
    """Whether the principal may see an incident assigned to ``squad_ids`` (main and support)."""
    if principal.role in READ_ALL:
        return True
    if principal.role is Role.SQUAD:
        return principal.covers(squad_ids)
    return False


def require_read_incident(principal: Principal, squad_ids: Iterable[str | None]) -> None:
    if not may_read_incident(principal, squad_ids):
        raise Forbidden("this token may not see that incident")


def may_subscribe(principal: Principal, topic: str) -> bool:
    """Whether the principal may follow a WebSocket topic (``all``, ``squad:``, ``zone:``, ...):
    a squad's holder, the topic of its squad or of any squad below it."""
    if principal.role in READ_ALL:
        return True
    if principal.role is Role.SQUAD:
        return topic.startswith("squad:") and topic.removeprefix("squad:") in principal.squads()
    return False


def new_secret() -> str:
    """A fresh token secret: shown once to its holder, stored only as :func:`hash_secret`."""
    return "dct_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    # Secrets are 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).digest()


def same_secret(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
