"""Bearer tokens (docs/API.md §2): stored hashed, cached briefly, revoked everywhere at once.

:class:`TokenBook` answers the :class:`~dispatcher.core.auth.Principal` of a secret. Lookups are
cached per process for a few seconds; a revocation clears every process's cache through a
control message, and the cache's short life bounds staleness even if that message is lost.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from dispatcher.core.auth import (
    BOOTSTRAP_ADMIN_ID,
    Principal,
    Role,
    hash_secret,
    new_secret,
    same_secret,
)
from dispatcher.core.errors import NotFound, Unauthorized
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.times import in_zone
from dispatcher.store import records as store
from dispatcher.store.briefcache import BriefCache

INSERT_TOKEN: Final = """
INSERT INTO tokens (id, name, role, squad_id, secret_hash, created_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, name, role, squad_id, created_at, created_by, expires_at, revoked_at"""
SELECT_BY_HASH: Final = """
SELECT id, name, role, squad_id, expires_at FROM tokens
WHERE secret_hash = $1 AND revoked_at IS NULL"""
SELECT_BY_ID: Final = """
SELECT id, name, role, squad_id, expires_at FROM tokens
WHERE id = $1 AND revoked_at IS NULL"""
SELECT_TOKENS: Final = """
SELECT id, name, role, squad_id, created_at, created_by, expires_at, revoked_at
FROM tokens ORDER BY created_at"""
REVOKE_TOKEN: Final = """
UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id"""

CACHE_SECONDS: Final = 10.0


def _principal(row: Any) -> Principal:
    return Principal(
        TokenId(row["id"]),
        Role(row["role"]),
        row["name"],
        SquadId(row["squad_id"]) if row["squad_id"] else None,
        row["expires_at"],
    )


def token_json(row: Any, tz: tzinfo | None = None) -> dict[str, Any]:
    """A token's description, its times in ``tz`` (the deployment's zone) when given."""
    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "squad_id": row["squad_id"],
        "created_at": in_zone(row["created_at"], tz),
        "created_by": row["created_by"],
        "expires_at": in_zone(row["expires_at"], tz) if row["expires_at"] else None,
        "revoked_at": in_zone(row["revoked_at"], tz) if row["revoked_at"] else None,
    }


class TokenBook:
    def __init__(self, pool: store.Pool, admin_secret: str | None) -> None:
        self._pool = pool
        self._admin_secret = admin_secret
        self._cache: BriefCache[bytes, Principal | None] = BriefCache(CACHE_SECONDS)

    async def authenticate(self, secret: str, now: datetime | None = None) -> Principal:
        """The principal of a secret; raise Unauthorized for an unknown, expired or revoked one."""
        if self._admin_secret is not None and same_secret(secret, self._admin_secret):
            return Principal(BOOTSTRAP_ADMIN_ID, Role.ADMIN, "DISPATCH_ADMIN_TOKEN")
        digest = hash_secret(secret)
        found, principal = self._cache.get(digest)
        if not found:
            row = await self._pool.fetchrow(SELECT_BY_HASH, digest)
            principal = None if row is None else _principal(row)
            self._cache.put(digest, principal)
        if principal is None:
            raise Unauthorized("unknown or revoked token")
        moment = now or datetime.now(UTC)
        if principal.expires_at is not None and principal.expires_at <= moment:
            raise Unauthorized("the token has expired")
        return principal

    async def by_id(self, token_id: TokenId, now: datetime | None = None) -> Principal:
        """The principal of a token named by its id, read now (not from the cache: a ticket
        is taken once, and must not outlive its token's revocation); raise Unauthorized for
        an unknown, expired or revoked one."""
        if token_id == BOOTSTRAP_ADMIN_ID:
            if self._admin_secret is None:
                raise Unauthorized("unknown or revoked token")
            return Principal(BOOTSTRAP_ADMIN_ID, Role.ADMIN, "DISPATCH_ADMIN_TOKEN")
        row = await self._pool.fetchrow(SELECT_BY_ID, token_id)
        if row is None:
            raise Unauthorized("unknown or revoked token")
        principal = _principal(row)
        if principal.expires_at is not None and principal.expires_at <= (now or datetime.now(UTC)):
            raise Unauthorized("the token has expired")
        return principal

    def forget(self, token_id: str) -> None:
        """Drop a token from this process's cache (it was revoked)."""
        self._cache.drop_where(lambda p: p is not None and p.token_id == token_id)

    async def create(
        self,
        role: Role,
        name: str,
        squad_id: str | None,
        expires_at: datetime | None,
        created_by: str,
        tz: tzinfo | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Store a new token; answer its description (times in ``tz`` when given) and the
        secret (shown only now)."""
        secret = new_secret()
        token_id = "tok_" + secrets.token_hex(8)
        row = await self._pool.fetchrow(
            INSERT_TOKEN,
            token_id,
            name,
            role.value,
            squad_id,
            hash_secret(secret),
            created_by,
            expires_at,
        )
        return token_json(row, tz), secret

    async def list(self, tz: tzinfo | None = None) -> list[dict[str, Any]]:
        """Every token's description, its times in ``tz`` when given."""
        return [token_json(r, tz) for r in await self._pool.fetch(SELECT_TOKENS)]

    async def revoke(self, token_id: str) -> None:
        if await self._pool.fetchval(REVOKE_TOKEN, token_id) is None:
            raise NotFound(f"no token {token_id}")
        self.forget(token_id)
