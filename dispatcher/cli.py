"""The ``dispatch`` command (CONTRACT §1): migrate, serve, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiohttp import web

from dispatcher import audit, migrate
from dispatcher.app import create_app
from dispatcher.settings import ConfigError, from_env

log = logging.getLogger("dispatcher")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def cmd_migrate(_: argparse.Namespace) -> int:
    url = os.environ.get("DISPATCH_DATABASE_URL", "").strip()
    if not url:
        print("DISPATCH_DATABASE_URL is not set; `dispatch migrate` needs it", file=sys.stderr)
        return 2
    applied = asyncio.run(migrate.apply(url))
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


async def _audit_verify(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):
            checked, finding = await audit.verify(conn.cursor(audit.SELECT_CHAIN, prefetch=2000))
    finally:
        await conn.close()
    if finding is None:
        print(f"the history is intact: {checked} entries checked")
        return 0
    print(f"AUDIT FAILED at seq {finding.seq} ({finding.problem}): {finding.message}")
    return 1


def cmd_audit_verify(_: argparse.Namespace) -> int:
    url = os.environ.get("DISPATCH_DATABASE_URL", "").strip()
    if not url:
        print("DISPATCH_DATABASE_URL is not set; `dispatch audit verify` needs it", file=sys.stderr)
        return 2
    return asyncio.run(_audit_verify(url))


def cmd_serve(_: argparse.Namespace) -> int:
    try:
        settings = from_env()
    except ConfigError as exc:
        print(f"dispatch serve: {exc}", file=sys.stderr)
        return 2
    log.info("serving on http://%s:%d (%r)", settings.host, settings.port, settings)
    # run_app stops taking connections on SIGTERM/SIGINT, closes WebSockets (on_shutdown),
    # waits for requests in flight, then runs cleanup: the intake writer flushes what it holds.
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=15,
        print=None,
        access_log=None,
        handle_signals=True,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # imported here: the demo needs the optional `embedded` packages, serve does not
    from dispatcher.demo import run_demo  # noqa: PLC0415

    return run_demo(Path(args.data), port=args.port, rate_per_min=args.rate, open_browser=args.open)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("serve", help="run the HTTP + WebSocket server").set_defaults(func=cmd_serve)
    audit_cmd = sub.add_parser("audit", help="the history's hash chain")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="walk the chain; exit 1 at the first altered, removed or inserted entry"
    ).set_defaults(func=cmd_audit_verify)
    demo = sub.add_parser("demo", help="private PostgreSQL and Redis, the demo city, a simulator")
    demo.add_argument("--data", default=".data/demo", help="data folder (default .data/demo)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--rate", type=float, default=30.0, help="simulated reports per minute")
    demo.add_argument("--open", action="store_true", help="open the console in a browser")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
