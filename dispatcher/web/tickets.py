"""One-time tickets for ``/ws`` (docs/API.md §2): no long-lived secret travels in a URL.

A page that holds a bearer token asks ``POST /api/v1/ws-tickets`` (token in the header) and
opens ``/ws?ticket=...``. A ticket stands for the caller's token for :data:`TICKET_TTL_S`
seconds and is taken once: it lives in Redis (shared by every server process) under the hash of
its value, with a TTL, and is taken with ``GETDEL``, so two processes cannot both accept it.
The token it stands for is checked again when it is taken: a revoked or expired token's tickets
do not let anyone in. A person signed in to the pages may ask for one too (their pages connect
with the session cookie itself, but a ticket serves a page of another origin, such as a wall
display proxied elsewhere); it stands for the person, checked again when taken: a disabled
person's tickets let nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatcher.core.auth import Principal
from dispatcher.core.errors import Unauthorized, Unavailable
from dispatcher.core.ids import TokenId
from dispatcher.store.people import PeopleBook
from dispatcher.store.tokens import TokenBook

#: how long a ticket may wait for its connection (the page asks right before connecting)
TICKET_TTL_S: Final = 30
#: Redis key of a ticket: this prefix and the SHA-256 of the ticket (never the ticket itself)
PREFIX: Final = "dispatch:wsticket:"
#: what a ticket held for a person starts with (token ids never do)
PERSON: Final = "person:"
#: random bytes in a ticket (256 bits, url-safe base64)
TICKET_BYTES: Final = 32


def ticket_key(ticket: str) -> str:
    """The Redis key a ticket is kept under."""
    return PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


class TicketBook:
    """Hands out tickets for a token and takes them back, once."""

    def __init__(
        self,
        redis: aioredis.Redis,
        tokens: TokenBook,
        people: PeopleBook,
        *,
        ttl_s: int = TICKET_TTL_S,
    ) -> None:
        self._redis = redis
        self._tokens = tokens
        self._people = people
        self.ttl_s = ttl_s

    async def issue(self, who: Principal) -> str:
        """A fresh ticket standing for ``who``'s token; give it to the caller, nothing else."""
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        try:
            held = (PERSON if who.person else "") + str(who.token_id)
            await self._redis.set(ticket_key(ticket), held, ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            raise Unavailable("tickets cannot be handed out now; retry shortly") from exc
        return ticket

    async def redeem(self, ticket: str) -> Principal:
        """The principal of a ticket's token, taking the ticket (it works once); raise
        Unauthorized for an unknown, expired or used ticket, or one whose token was revoked
        or expired since."""
        try:
            found = await self._redis.getdel(ticket_key(ticket))
        except (RedisError, OSError) as exc:
            raise Unavailable("tickets cannot be checked now; retry shortly") from exc
        if found is None:
            raise Unauthorized("unknown, expired or used ticket")
        held = found.decode() if isinstance(found, bytes) else str(found)
        if held.startswith(PERSON):
            person = await self._people.find(held.removeprefix(PERSON))
            if person is None or not person.active:
                raise Unauthorized("the ticket's person is disabled")
            return person.principal()
        return await self._tokens.by_id(TokenId(held))
