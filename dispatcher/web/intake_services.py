"""What the intake channels share per application: the devices' rate limiter and the outbox.

``runtime_ctx`` (in ``app``) makes one :class:`Channels` after the runtime, keeps it under
:data:`CHANNELS` and runs :meth:`Channels.tasks` beside its own background tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from dispatcher.core import cap
from dispatcher.web.context import Runtime
from dispatcher.web.outbox import Outbox
from dispatcher.web.ratelimit import RateLimiter


@dataclass
class Channels:
    limiter: RateLimiter
    #: None when no hotline callback URL is configured (updates then wait in the table)
    outbox: Outbox | None

    @classmethod
    def create(cls, rt: Runtime) -> Channels:
        settings = rt.settings
        limiter = RateLimiter(rt.redis, settings.device_rate_per_s, settings.device_burst)
        outbox = None
        if settings.hotline_callback_url:
            outbox = Outbox(
                rt.pool,
                settings.hotline_callback_url,
                settings.zone,
                lambda: {s.id: s.name for s in rt.ref.squads.values()},
                token=settings.hotline_callback_token,
                poll_s=settings.outbox_poll_s,
                retry_base_s=settings.outbox_retry_base_s,
                retry_max_s=settings.outbox_retry_max_s,
            )
        return cls(limiter, outbox)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background work to run while the application runs."""
        return [self.outbox.run()] if self.outbox is not None else []


CHANNELS: Final = web.AppKey("channels", Channels)


def of(request: web.Request) -> Channels:
    return request.app[CHANNELS]


async def start(app: web.Application, rt: Runtime) -> list[asyncio.Task[None]]:
    """Make the channels' state for ``app`` and start their tasks; the caller cancels them."""
    channels = Channels.create(rt)
    app[CHANNELS] = channels
    await asyncio.to_thread(cap.schema)  # read the CAP schema now, not on the first alert
    loop = asyncio.get_running_loop()
    return [loop.create_task(job) for job in channels.tasks()]
