"""The baseline of ``bench_intake``: an aiohttp server that only reads and parses the report.

``POST /api/v1/incidents`` reads the body, ``json.loads`` it and answers 202; nothing is
validated, stored or published. It runs like ``dispatch serve`` does (``web.run_app``, no
access log, one process, the same 1 MiB body limit) until SIGTERM or SIGINT::

    .venv/bin/python bench/bare_server.py --port 8099
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

ACCEPTED = b'{"accepted":true}'


async def intake(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        json.loads(body)
    except ValueError:
        return web.Response(
            status=400, body=b'{"error":"not JSON"}', content_type="application/json"
        )
    return web.Response(status=202, body=ACCEPTED, content_type="application/json")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def create_app() -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/api/v1/incidents", intake)
    app.router.add_get("/readyz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
