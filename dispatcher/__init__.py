"""The command centre: domain core (pure) and the application around it.

Pure modules (no aiohttp, asyncpg or redis): ``incidents``, ``lifecycle``, ``clocks``,
``routing``, ``categories``, ``intake``, ``auth``, ``events``, ``errors``.
Adapters: ``store`` (PostgreSQL), ``app`` and ``api_*`` (aiohttp), ``cli``, ``embedded``.
"""
