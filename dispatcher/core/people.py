"""People accountable by name (docs/API.md §2a): officers and the centre's staff who sign in.

A person has a sign-in name, a name, a 执法证号 (law-enforcement ID) if they hold one, a squad,
one role and a phone. The roles nest (an admin does all an operator does, an operator reads all
an auditor reads; a squad's holder acts within its tier), so one role a person is enough; the
tier comes from the squad (``dispatcher.core.tiers``). Devices and other platforms keep tokens.

Pure: what a person is, what a password must be, and the principal of a signed-in person.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

from dispatcher.core.auth import Principal, Role
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.times import in_zone

#: the roles a person may have (devices are tokens, never people)
PERSON_ROLES: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.SQUAD, Role.AUDITOR})
#: 等保 2.0 (GB/T 22239-2019) 身份鉴别 asks for passwords of some complexity: at least this
#: long, with letters and digits
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 256
#: a 执法证号 as printed on the card: letters, digits and dashes
BADGE: Final = re.compile(r"^[0-9A-Za-z-]{4,32}$")
#: what the history and the pages call a role
ROLE_NAMES: Final = {
    Role.ADMIN: "系统管理员",
    Role.OPERATOR: "指挥中心值班员",
    Role.SQUAD: "执法队员",
    Role.AUDITOR: "督查审计",
    Role.DEVICE: "设备",
}


@dataclass(frozen=True)
class Person:
    id: str
    login: str
    name: str
    role: Role
    squad_id: str | None = None
    badge_no: str | None = None
    phone: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def principal(self, expires_at: datetime | None = None) -> Principal:
        """The person as a caller: the history records their id as the actor."""
        return Principal(
            TokenId(self.id),
            self.role,
            self.name,
            SquadId(self.squad_id) if self.squad_id else None,
            expires_at,
            person=True,
        )

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        """The person as the API answers it (no password hash), times in ``tz`` when given."""
        return {
            "id": self.id,
            "login": self.login,
            "name": self.name,
            "role": self.role.value,
            "role_name": ROLE_NAMES[self.role],
            "squad_id": self.squad_id,
            "badge_no": self.badge_no,
            "phone": self.phone,
            "created_at": in_zone(self.created_at, tz) if self.created_at else None,
            "created_by": self.created_by,
            "updated_at": in_zone(self.updated_at, tz) if self.updated_at else None,
            "disabled_at": in_zone(self.disabled_at, tz) if self.disabled_at else None,
        }


def new_person_id() -> str:
    return "psn_" + secrets.token_hex(6)


def check_password(password: str, field: str = "password") -> str:
    """The password if it is strong enough; raise ValidationFailed naming ``field``."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"{field}: at least {MIN_PASSWORD} characters", field=field)
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(f"{field}: at most {MAX_PASSWORD} characters", field=field)
    if not (re.search(r"[A-Za-z]", password) and re.search(r"[0-9]", password)):
        raise ValidationFailed(f"{field}: letters and digits both", field=field)
    return password


def check_role(role: Role, squad_id: str | None) -> None:
    """A person's role must be a person's, and a squad's holder names its squad."""
    if role not in PERSON_ROLES:
        raise ValidationFailed(f"role: a person cannot have the {role} role", field="role")
    if role is Role.SQUAD and not squad_id:
        raise ValidationFailed("squad_id: an officer of a squad names the squad", field="squad_id")


def check_badge(badge_no: str | None) -> str | None:
    if badge_no is not None and not BADGE.match(badge_no):
        raise ValidationFailed("badge_no: 4 to 32 letters, digits or dashes", field="badge_no")
    return badge_no
