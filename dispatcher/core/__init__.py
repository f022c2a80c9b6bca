"""The pure core: incidents, their life cycle, clocks, routing, dedup, figures, audit.

Commands in, decisions and events out. Nothing here imports aiohttp, asyncpg, redis, or any
other layer of ``dispatcher``; it reads no clock and does no I/O (``tests/unit/test_architecture``).
"""
