"""People and their sessions (docs/API.md §2a), kept in PostgreSQL.

:class:`PeopleBook` creates, changes and disables people; passwords are hashed with Argon2id
(argon2-cffi's defaults, RFC 9106's second recommended set: 64 MiB, 3 passes, 4 lanes), off
the event loop. :class:`SessionBook` signs people in and answers the principal of a session
cookie: the cookie carries a random secret, the table only its SHA-256; lookups are cached per
process for a few seconds, and disabling or changing a person drops them at once in every
process (a control message, ``person.changed``). A session ends when its person signs out, is
disabled or changed in role or squad, or when it expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatcher.core.auth import BOOTSTRAP_ADMIN_ID, SYSTEM_ACTOR, Principal, Role
from dispatcher.core.errors import Conflict, NotFound, Unauthorized
from dispatcher.core.people import Person, new_person_id
from dispatcher.store import records as store
from dispatcher.store.briefcache import BriefCache

PERSON_COLUMNS: Final = (
    "id, login, name, role, squad_id, badge_no, phone, created_at, created_by, updated_at, "
    "disabled_at"
)
INSERT_PERSON: Final = f"""
INSERT INTO people (id, login, name, role, squad_id, badge_no, phone, password_hash, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING {PERSON_COLUMNS}"""
SELECT_PEOPLE: Final = f"SELECT {PERSON_COLUMNS} FROM people ORDER BY squad_id, name, id"
SELECT_PERSON: Final = f"SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"
SELECT_SIGN_IN: Final = f"SELECT {PERSON_COLUMNS}, password_hash FROM people WHERE login = $1"
SELECT_HASH: Final = "SELECT password_hash FROM people WHERE id = $1"
UPDATE_PERSON: Final = f"""
UPDATE people SET name = $2, role = $3, squad_id = $4, badge_no = $5, phone = $6,
       disabled_at = $7, updated_at = now()
WHERE id = $1
RETURNING {PERSON_COLUMNS}"""
UPDATE_PASSWORD: Final = "UPDATE people SET password_hash = $2, updated_at = now() WHERE id = $1"
INSERT_SESSION: Final = """
INSERT INTO sessions (secret_hash, person_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)"""
SELECT_SESSION: Final = f"""
SELECT s.csrf_token, s.expires_at, {", ".join("p." + c.strip() for c in PERSON_COLUMNS.split(","))}
FROM sessions s JOIN people p ON p.id = s.person_id
WHERE s.secret_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
  AND p.disabled_at IS NULL"""
END_SESSION: Final = (
    "UPDATE sessions SET ended_at = now() WHERE secret_hash = $1 AND ended_at IS NULL"
)
END_SESSIONS_OF: Final = (
    "UPDATE sessions SET ended_at = now() WHERE person_id = $1 AND ended_at IS NULL"
)
SELECT_NAMES: Final = """
SELECT id, name FROM people WHERE id = ANY($1::text[])
UNION ALL
SELECT id, name FROM tokens WHERE id = ANY($1::text[])"""

#: the names of the actors no table holds: the system's own steps, the bootstrap admin token
OWN_NAMES: Final = {SYSTEM_ACTOR: "系统", str(BOOTSTRAP_ADMIN_ID): "DISPATCH_ADMIN_TOKEN"}
CACHE_SECONDS: Final = 5.0
#: a hash of nothing anyone can sign in with: checked against when the sign-in name is unknown,
#: so that an unknown name takes as long to refuse as a wrong password
_HASHER: Final = PasswordHasher()
_DECOY: Final = _HASHER.hash(secrets.token_urlsafe(16))


def person_of(row: Any) -> Person:
    return Person(
        id=row["id"],
        login=row["login"],
        name=row["name"],
        role=Role(row["role"]),
        squad_id=row["squad_id"],
        badge_no=row["badge_no"],
        phone=row["phone"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        disabled_at=row["disabled_at"],
    )


async def hash_password(password: str) -> str:
    """The Argon2id hash of a password, computed off the event loop (tens of milliseconds)."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def password_matches(stored: str, given: str) -> bool:
    def verify() -> bool:
        try:
            return _HASHER.verify(stored, given)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def _unique_violation(exc: asyncpg.UniqueViolationError) -> Conflict:
    field = "badge_no" if "badge_no" in (exc.constraint_name or "") else "login"
    return Conflict(f"{field}: another person has that {field}", code="duplicate_" + field)


@dataclass(frozen=True)
class PersonChange:
    """What an admin changes of a person (None: unchanged)."""

    name: str | None = None
    role: Role | None = None
    squad_id: str | None = None
    clear_squad: bool = False
    badge_no: str | None = None
    phone: str | None = None
    disabled: bool | None = None
    password: str | None = None


class PeopleBook:
    def __init__(self, pool: store.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        *,
        login: str,
        name: str,
        role: Role,
        password: str,
        created_by: str,
        squad_id: str | None = None,
        badge_no: str | None = None,
        phone: str | None = None,
    ) -> Person:
        digest = await hash_password(password)
        try:
            row = await self._pool.fetchrow(
                INSERT_PERSON,
                new_person_id(),
                login,
                name,
                role.value,
                squad_id,
                badge_no,
                phone,
                digest,
                created_by,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _unique_violation(exc) from None
        return person_of(row)

    async def list(self) -> list[Person]:
        return [person_of(r) for r in await self._pool.fetch(SELECT_PEOPLE)]

    async def find(self, person_id: str) -> Person | None:
        row = await self._pool.fetchrow(SELECT_PERSON, person_id)
        return None if row is None else person_of(row)

    async def get(self, person_id: str) -> Person:
        person = await self.find(person_id)
        if person is None:
            raise NotFound(f"no person {person_id}")
        return person

    async def change(self, person_id: str, change: PersonChange, now: datetime) -> Person:
        """Apply ``change``; a person disabled, or moved to another role or squad, has every
        session ended (the caller announces ``person.changed`` so every process drops them)."""
        digest = None if change.password is None else await hash_password(change.password)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_PERSON + " FOR UPDATE", person_id)
            if row is None:
                raise NotFound(f"no person {person_id}")
            before = person_of(row)
            squad_id = None if change.clear_squad else (change.squad_id or before.squad_id)
            disabled_at = before.disabled_at
            if change.disabled is True and disabled_at is None:
                disabled_at = now
            elif change.disabled is False:
                disabled_at = None
            try:
                row = await conn.fetchrow(
                    UPDATE_PERSON,
                    person_id,
                    change.name or before.name,
                    (change.role or before.role).value,
                    squad_id,
                    change.badge_no if change.badge_no is not None else before.badge_no,
                    change.phone if change.phone is not None else before.phone,
                    disabled_at,
                )
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc) from None
            after = person_of(row)
            if digest is not None:
                await conn.execute(UPDATE_PASSWORD, person_id, digest)
            if (
                not after.active
                or after.role is not before.role
                or after.squad_id != before.squad_id
                or digest is not None
            ):
                await conn.execute(END_SESSIONS_OF, person_id)
        return after

    async def change_own_password(self, person_id: str, current: str, new: str) -> None:
        stored = await self._pool.fetchval(SELECT_HASH, person_id)
        if stored is None or not await password_matches(stored, current):
            raise Unauthorized("current_password: that is not your password")
        await self._pool.execute(UPDATE_PASSWORD, person_id, await hash_password(new))

    async def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of the actors among ``ids``: people's, tokens', and the system's own
        (:data:`OWN_NAMES`)."""
        wanted = sorted({i for i in ids if i})
        found = {i: OWN_NAMES[i] for i in wanted if i in OWN_NAMES}
        asked = [i for i in wanted if i not in found]
        if asked:
            found.update({r["id"]: r["name"] for r in await self._pool.fetch(SELECT_NAMES, asked)})
        return found


@dataclass(frozen=True)
class Session:
    """A signed-in person: who, until when, and the token changing requests must carry."""

    person: Person
    csrf_token: str
    expires_at: datetime

    def principal(self) -> Principal:
        return self.person.principal(self.expires_at)


def session_key(secret: str) -> bytes:
    # a session secret is 256 random bits: a plain SHA-256 is enough to keep it unusable
    return hashlib.sha256(secret.encode("utf-8")).digest()


class SessionBook:
    def __init__(self, pool: store.Pool, lifetime: timedelta) -> None:
        self._pool = pool
        self._lifetime = lifetime
        self._cache: BriefCache[bytes, Session | None] = BriefCache(CACHE_SECONDS)

    async def sign_in(self, login: str, password: str, now: datetime) -> tuple[Session, str]:
        """A new session for the person of ``login`` if ``password`` is theirs: the session
        and its secret (for the cookie, never stored). Raise Unauthorized otherwise, alike
        for an unknown name, a wrong password and a disabled person."""
        row = await self._pool.fetchrow(SELECT_SIGN_IN, login)
        matched = await password_matches(row["password_hash"] if row else _DECOY, password)
        if row is None or not matched or row["disabled_at"] is not None:
            raise Unauthorized("wrong sign-in name or password")
        person = person_of(row)
        secret = secrets.token_urlsafe(32)
        session = Session(person, secrets.token_urlsafe(24), now + self._lifetime)
        await self._pool.execute(
            INSERT_SESSION, session_key(secret), person.id, session.csrf_token, session.expires_at
        )
        return session, secret

    async def find(self, secret: str, now: datetime) -> Session:
        """The live session of a cookie's secret; raise Unauthorized for an unknown, ended or
        expired one, or one whose person is disabled."""
        key = session_key(secret)
        found, session = self._cache.get(key)
        if not found:
            row = await self._pool.fetchrow(SELECT_SESSION, key)
            session = None
            if row is not None:
                session = Session(person_of(row), row["csrf_token"], row["expires_at"])
            self._cache.put(key, session)
        if session is None or session.expires_at <= now:
            raise Unauthorized("not signed in, or the session has ended")
        return session

    async def end(self, secret: str) -> None:
        key = session_key(secret)
        await self._pool.execute(END_SESSION, key)
        self._cache.put(key, None)

    def forget(self, person_id: str) -> None:
        """Drop a person's sessions from this process's cache (they were disabled or changed)."""
        self._cache.drop_where(lambda s: s is not None and s.person.id == person_id)
