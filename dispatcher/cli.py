"""The ``dispatch`` command (docs/API.md §1): migrate, serve, demo, audit, zones, report,
calendar.

Each command reads its settings once, through :func:`dispatcher.settings.from_env`, and only
those it uses: a command that needs the database alone does not ask for Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import sys
from collections.abc import Collection, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Final

import asyncpg
from aiohttp import web

from dispatcher import __version__
from dispatcher.app import create_app, stage_limits, working_calendar
from dispatcher.core import audit, case_files, checkpoints, photos
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.holidays import HolidayBook, YearCalendar, check_year, entered_year
from dispatcher.setting_kinds import ConfigError
from dispatcher.settings import Settings, from_env
from dispatcher.store import anchors, calendar, enforcement, migrate, reclock, reference
from dispatcher.store.changes import Changes
from dispatcher.web import checkpointer
from geo.slivers import SliverLimits
from realtime.bridge import EVENTS_CHANNEL, encode
from realtime.hub import Envelope

log = logging.getLogger("dispatcher")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _settings(
    command: str, *, require: Collection[str], only: Collection[str] | None = ()
) -> Settings | None:
    """The settings ``command`` uses (``only``; None for all of them), or None when one is
    missing or bad, said on stderr: the command then exits 2."""
    try:
        return from_env(require=require, only=only)
    except ConfigError as exc:
        print(f"dispatch {command}: {exc}", file=sys.stderr)
        return None


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = _settings("migrate", require=["database_url"])
    if settings is None:
        return 2
    try:
        applied = asyncio.run(migrate.apply(settings.database_url))
    except migrate.MigrationError as exc:
        print(f"dispatch migrate: {exc}", file=sys.stderr)
        return 1
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


def _sha256_of(path: Path) -> str | None:
    """The SHA-256 of a file's bytes, read in chunks; None if there is no such file."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


async def _audit_verify(
    url: str, media_dir: Path, marks: list[tuple[int, checkpoints.Checkpoint]] | None = None
) -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):
            checked, finding = await audit.verify(conn.cursor(audit.SELECT_CHAIN, prefetch=2000))
            claims = await enforcement.document_claims(conn)
            shots = await anchors.photo_claims(conn)
            head = await anchors.head(conn)
            hashes = await anchors.hashes_at(conn, [cp.seq for _, cp in marks or ()])
    finally:
        await conn.close()
    if finding is not None:
        print(f"AUDIT FAILED at seq {finding.seq} ({finding.problem}): {finding.message}")
        return 1
    # the head against the checkpoints kept outside the database: truncation, re-hashing
    anchored = checkpoints.compare(marks or (), head[0] if head else None, hashes)
    for off in anchored:
        print(f"AUDIT FAILED at seq {off.seq} ({off.problem}): {off.message}")
    if anchored:
        return 1
    # the files of enforcement cases: their bytes against the hashes the chain keeps
    root = media_dir  # resolved by the caller
    actual = {
        c: await asyncio.to_thread(_sha256_of, root / case_files.relative_path(c.case_id, c.file))
        for c in claims
    }
    wrong = case_files.findings(claims, actual)
    # the photos of incidents: their bytes against the hashes their uploads' entries keep
    shot = {
        c: await asyncio.to_thread(_sha256_of, root / photos.relative_path(c.incident_id, c.file))
        for c in shots
    }
    bad_photos = photos.findings(shots, shot)
    for mismatch in wrong:
        print(f"AUDIT FAILED ({mismatch.problem}): {mismatch.message}")
    for photo in bad_photos:
        print(f"AUDIT FAILED ({photo.problem}): {photo.message}")
    if wrong or bad_photos:
        return 1
    anchors_said = f", {len(marks)} checkpoint(s) agree" if marks is not None else ""
    print(
        f"the history is intact: {checked} entries checked,"
        f" {len(claims)} documents of cases match their hashes, as do {len(shots)} photos"
        + anchors_said
    )
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    only = ["media_dir", "audit_key"]
    required = ["database_url", "audit_key"] if args.checkpoint else ["database_url"]
    settings = _settings("audit verify", require=required, only=only)
    if settings is None:
        return 2
    marks = None
    if args.checkpoint:
        try:
            lines = Path(args.checkpoint).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"dispatch audit verify: {exc}", file=sys.stderr)
            return 2
        marks, forged = checkpoints.read(lines, settings.audit_key or "")
        for bad in forged:
            print(f"AUDIT FAILED ({bad.problem}): {bad.message}")
        if forged:
            return 1
        if not marks:
            print(f"dispatch audit verify: no checkpoint in {args.checkpoint}", file=sys.stderr)
            return 2
    return asyncio.run(_audit_verify(settings.database_url, settings.media_dir.resolve(), marks))


async def _audit_checkpoint(url: str, path: Path, key: str) -> checkpoints.Checkpoint | None:
    conn = await asyncpg.connect(url)
    try:
        return await checkpointer.write(conn, path, key)
    finally:
        await conn.close()


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    only = ["audit_key", "audit_checkpoint_file"]
    settings = _settings("audit checkpoint", require=["database_url", "audit_key"], only=only)
    if settings is None:
        return 2
    path = Path(args.file) if args.file else settings.audit_checkpoint_file
    if path is None:
        print(
            "dispatch audit checkpoint: name the file (--file, or DISPATCH_AUDIT_CHECKPOINT_FILE)",
            file=sys.stderr,
        )
        return 2
    try:
        written = asyncio.run(
            _audit_checkpoint(settings.database_url, path, settings.audit_key or "")
        )
    except OSError as exc:
        print(f"dispatch audit checkpoint: {exc}", file=sys.stderr)
        return 1
    if written is None:
        print("the history is empty: no checkpoint written")
        return 0
    print(
        f"checkpoint: seq {written.seq}, hash {written.hash}, at {written.at.isoformat()} -> {path}"
    )
    return 0


def cmd_serve(_: argparse.Namespace) -> int:
    settings = _settings("serve", require=["database_url", "redis_url"], only=None)
    if settings is None:
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
    from dispatcher.demo.run import Pace, run_demo  # noqa: PLC0415

    pace = Pace(args.per_day, args.speed, args.rate, args.history_days, args.history_per_day)
    return run_demo(Path(args.data), port=args.port, pace=pace, open_browser=args.open)


def cmd_report_monthly(args: argparse.Namespace) -> int:
    """Write the monthly figures (docs/API.md §1, §7) from the database to a file."""
    # imported here: only this command needs the figures and openpyxl
    from dispatcher.core.errors import ValidationFailed  # noqa: PLC0415
    from dispatcher.core.reports import ReportFormat  # noqa: PLC0415
    from dispatcher.store.figures import monthly_from_database  # noqa: PLC0415

    settings = _settings("report monthly", require=["database_url"], only=["tz", "score_weights"])
    if settings is None:
        return 2
    out = Path(args.out)
    try:
        body = asyncio.run(
            monthly_from_database(
                settings.database_url,
                settings.zone,
                args.month,
                ReportFormat(args.format),
                settings.score_weights.as_dict(),
            )
        )
    except ValidationFailed as exc:
        print(f"dispatch report monthly: {exc.message}", file=sys.stderr)
        return 2
    out.write_bytes(body)
    print(f"wrote {out} ({len(body)} bytes)")
    return 0


async def _squads_and_load(
    url: str,
    collection: dict[str, object] | None,
    loaded_by: str,
    limits: SliverLimits | None = None,
) -> tuple[list[str], int | None]:
    """The known squad ids; with a collection, also make it the zone set (as ``PUT
    /api/v1/zones`` does) and answer its version."""
    # imported here: only `zones import` needs them
    from dispatcher.store import reference  # noqa: PLC0415

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        squads = list(await reference.load_squads(pool))
        if collection is None:
            return squads, None
        _, version, _ = await reference.replace_zones(
            pool, collection, squads, loaded_by, limits=limits
        )
        return squads, version
    finally:
        await pool.close()


async def _announce_zones(redis_url: str) -> None:
    """Tell every server process to rebuild its zone index (the control message)."""
    await _announce(redis_url, {"type": "reference.changed"})


#: the readers of boundary files, which the extra `dispatch-centre[import]` brings
IMPORT_EXTRA_MODULES: Final = frozenset({"geopandas", "pyogrio", "pandas"})
IMPORT_EXTRA_HINT: Final = (
    "reading boundary files needs the zone import's extra: pip install 'dispatch-centre[import]'"
)


def cmd_zones_import(args: argparse.Namespace) -> int:
    """Read a boundary file, report, and (unless --dry-run) replace the zone set with it."""
    # imported here: geopandas is slow to import and only this command needs it; it comes with
    # the extra `dispatch-centre[import]`, which a server install need not carry
    from geo.errors import InvalidZones  # noqa: PLC0415

    try:
        from geo.importer import FieldMap, format_report, read_zone_file  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name not in IMPORT_EXTRA_MODULES:
            raise
        print(
            f"dispatch zones import: {exc.name} is not installed; {IMPORT_EXTRA_HINT}",
            file=sys.stderr,
        )
        return 2

    # a dry run checks the file alone when there is no database to check the squads against
    settings = _settings(
        "zones import",
        require=[] if args.dry_run else ["database_url"],
        only=["database_url", "redis_url", "zone_sliver_m2", "zone_sliver_width_m"],
    )
    if settings is None:
        return 2
    limits = SliverLimits(settings.zone_sliver_m2, settings.zone_sliver_width_m)
    url = settings.database_url
    squads = asyncio.run(_squads_and_load(url, None, ""))[0] if url else None
    fields = FieldMap(
        id=args.id_field,
        name=args.name_field,
        level=args.level,
        parent=args.parent_field,
        squad=args.squad_field,
    )
    result = read_zone_file(
        Path(args.file),
        crs=args.crs,
        fields=fields,
        repair=args.repair,
        known_squads=squads,
        limits=limits,
    )
    if squads is None:
        result.notes.append("squad ids were not checked: DISPATCH_DATABASE_URL is not set")
    if not result.ok or args.dry_run or result.collection is None:
        print(format_report(result, dry_run=args.dry_run))
        return 0 if result.ok else 1
    try:
        _, version = asyncio.run(
            _squads_and_load(url, result.collection, "cli:zones-import", limits)
        )
    except InvalidZones as exc:  # the squads changed meanwhile
        result.file_problems.extend(exc.problems)
        print(format_report(result, dry_run=False))
        return 1
    if settings.redis_url:
        asyncio.run(_announce_zones(settings.redis_url))
        told = "every server process was told to rebuild its index"
    else:
        told = "DISPATCH_REDIS_URL is not set: servers notice the new version within 5 s"
    count = len(result.report.zones) if result.report else 0
    print(
        format_report(
            result, dry_run=False, loaded=f"loaded {count} zone(s) as version {version}; {told}"
        )
    )
    return 0


async def _announce(redis_url: str, message: dict[str, str]) -> None:
    """Publish a control message to every server process."""
    import redis.asyncio as aioredis  # noqa: PLC0415

    from realtime.bridge import CONTROL_CHANNEL  # noqa: PLC0415

    client = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.publish(CONTROL_CHANNEL, json.dumps(message))
    finally:
        await client.aclose()


def _read_years(path: Path) -> list[YearCalendar]:
    """The years of a calendar file: ``{"year", "holidays", "workdays"}`` or a list of them;
    raise ValidationFailed (naming the year) or ValueError (not JSON)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else [data]
    years: list[YearCalendar] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("year"), int):
            raise ValidationFailed(f"entry {i}: an object with a year (a whole number) is needed")
        try:
            years.append(
                entered_year(
                    entry["year"],
                    entry.get("holidays"),
                    entry.get("workdays", []),
                    by="cli:calendar-import",
                )
            )
        except ValidationFailed as exc:
            raise ValidationFailed(f"{entry['year']}: {exc.message}", field=exc.field) from None
    if len({y.year for y in years}) != len(years):
        raise ValidationFailed("a year appears twice in the file")
    return years


async def _save_years(url: str, years: list[YearCalendar]) -> list[tuple[YearCalendar, bool]]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            return [await calendar.save_year(conn, year) for year in years]
    finally:
        await conn.close()


def cmd_calendar_import(args: argparse.Namespace) -> int:
    """Enter the years of a calendar file (all or none), then tell the servers."""
    settings = _settings(
        "calendar import",
        require=["database_url"],
        only=[
            "database_url",
            "redis_url",
            "tz",
            "work_windows",
            "work_windows_seasonal",
            "stage_limits_hotline",
            "escalation_step",
        ],
    )
    if settings is None:
        return 2
    try:
        years = _read_years(Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"dispatch calendar import: {args.file}: {exc}", file=sys.stderr)
        return 1
    except ValidationFailed as exc:
        print(f"dispatch calendar import: {args.file}: {exc.message}", file=sys.stderr)
        return 1
    for year, created in asyncio.run(_save_years(settings.database_url, years)):
        print(
            f"{year.year}: {'entered' if created else 'replaced'}, {len(year.holidays)} day(s)"
            f" off, {len(year.workdays)} make-up working day(s)"
        )
    if settings.redis_url:
        asyncio.run(_announce(settings.redis_url, {"type": "calendar.changed"}))
        print("every server process was told to reload its calendar")
    else:
        print("DISPATCH_REDIS_URL is not set: servers reload their calendar within the hour")
    moved = asyncio.run(_count_again(settings, min(y.year for y in years)))
    print(f"{moved} running deadline(s) counted again on the new calendar")
    return 0


async def _count_again(settings: Settings, first_year: int) -> int:
    """Count the running case clocks again on the calendar as now entered (as the API's PUT
    does), through the one change path; tell the servers' consoles through Redis."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    stored: list[Envelope] = []
    try:
        categories = await reference.load_categories(pool)
        own = {code: category.own_stage_limits for code, category in categories.items()}
        rules = Rules(
            working_calendar(settings, await calendar.load_book(pool)),
            stage_limits(settings).with_categories(own),
            escalation_step=settings.escalation_step,
        )
        changes = Changes(pool, lambda: rules, stored.extend, lambda: None)
        since = datetime.combine(date(first_year, 1, 1), time(0), settings.zone)
        moved = await reclock.count_again(changes, pool, since, f"calendar from {first_year}")
    finally:
        await pool.close()
    if stored and settings.redis_url:
        await _publish(settings.redis_url, stored)
    return moved


async def _publish(redis_url: str, stored: list[Envelope]) -> None:
    """Hand events committed here to every server process (their consoles), as a server's
    bridge does; a server that misses them reads them from the history."""
    import redis.asyncio as aioredis  # noqa: PLC0415

    client = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.publish(EVENTS_CHANNEL, encode(stored))
    finally:
        await client.aclose()


async def _load_book(url: str) -> HolidayBook:
    conn = await asyncpg.connect(url)
    try:
        return await calendar.load_book(conn)
    finally:
        await conn.close()


def cmd_calendar_show(args: argparse.Namespace) -> int:
    """Print a year's days off and make-up working days, their source, and the coverage."""
    settings = _settings("calendar show", require=["database_url"], only=["tz"])
    if settings is None:
        return 2
    try:
        year_number = check_year(args.year)
    except ValidationFailed as exc:
        print(f"dispatch calendar show: {exc.message}", file=sys.stderr)
        return 2
    book = asyncio.run(_load_book(settings.database_url))
    year = book.year(year_number)
    source = year.source.value
    if year.entered_by is not None:
        when = year.entered_at.isoformat() if year.entered_at else "?"
        source += f" by {year.entered_by} at {when}"
    print(f"{year.year}: {source}")
    for name, days in (("holidays", year.holidays), ("workdays", year.workdays)):
        shown = ", ".join(f"{d.isoformat()} {d:%a}" for d in sorted(days)) or "none"
        print(f"{name} ({len(days)}): {shown}")
    coverage = book.coverage(datetime.now(settings.zone).date())
    warning = coverage.warning()
    if warning is None:
        print(f"covered until {coverage.covered_until}")
    else:
        print(f"WARNING: {warning['zh']} / {warning['en']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"dispatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("serve", help="run the HTTP + WebSocket server").set_defaults(func=cmd_serve)
    audit_cmd = sub.add_parser("audit", help="the history's hash chain")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="walk the chain; exit 1 at the first altered, removed or inserted entry"
    )
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="also compare the head with the signed checkpoints of FILE (truncation, re-hashing;"
        " needs DISPATCH_AUDIT_KEY)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    checkpoint = audit_sub.add_parser(
        "checkpoint",
        help="append the history's head (seq, hash, time), signed with DISPATCH_AUDIT_KEY, to a"
        " file",
    )
    checkpoint.add_argument(
        "--file", help="the checkpoint file (default DISPATCH_AUDIT_CHECKPOINT_FILE)"
    )
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
    demo = sub.add_parser("demo", help="private PostgreSQL and Redis, the demo city, a simulator")
    demo.add_argument("--data", default=".data/demo", help="data folder (default .data/demo)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument(
        "--per-day", type=float, default=3000.0, help="reports a simulated day (default 3000)"
    )
    demo.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds a real second (default 1)"
    )
    demo.add_argument(
        "--rate", type=float, default=None, help="a flat rate of reports a real minute instead"
    )
    demo.add_argument(
        "--history-days", type=int, default=30, help="days of synthetic history (default 30)"
    )
    demo.add_argument(
        "--history-per-day",
        type=float,
        default=100.0,
        help="reports a day in the synthetic history (default 100: written in seconds)",
    )
    demo.add_argument("--open", action="store_true", help="open the console in a browser")
    demo.set_defaults(func=cmd_demo)
    zones = sub.add_parser("zones", help="the zone set")
    zones_sub = zones.add_subparsers(dest="zones_command", required=True)
    load = zones_sub.add_parser(
        "import",
        help="replace the zone set from a GeoJSON, Shapefile (zipped or not) or GeoPackage",
    )
    load.add_argument("file", help="the boundary file")
    load.add_argument("--crs", help="its coordinate system when the file is silent or wrong")
    load.add_argument("--id-field", default="id", help="field of the zone id (default id)")
    load.add_argument("--name-field", default="name", help="field of the name (default name)")
    load.add_argument(
        "--level",
        choices=["district", "street", "community", "grid", "special"],
        help="the level of every feature (default: the field 'level')",
    )
    load.add_argument("--parent-field", default="parent_id", help="field of the parent's id")
    load.add_argument("--squad-field", default="squad_id", help="field of the squad's id")
    load.add_argument(
        "--repair",
        action="store_true",
        help="fix invalid geometry (make_valid), resolve overlaps between siblings (each piece"
        " to the sibling that surrounds more of it) and close sliver gaps; every change reported",
    )
    load.add_argument("--dry-run", action="store_true", help="only report; change nothing")
    load.set_defaults(func=cmd_zones_import)
    report = sub.add_parser("report", help="reports of the figures")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    monthly = report_sub.add_parser("monthly", help="执法数据统计信息表 of one month")
    monthly.add_argument("--month", required=True, help="YYYY-MM, in DISPATCH_TZ")
    monthly.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    monthly.add_argument("--out", required=True, help="the file to write")
    monthly.set_defaults(func=cmd_report_monthly)
    cal = sub.add_parser("calendar", help="the holidays (节假日安排) of each year")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True)
    enter = cal_sub.add_parser(
        "import",
        help="enter years of the State Council's notice from a JSON file: "
        '{"year": 2027, "holidays": [...], "workdays": [...]} or a list of them',
    )
    enter.add_argument("file", help="the JSON file")
    enter.set_defaults(func=cmd_calendar_import)
    show = cal_sub.add_parser("show", help="a year's holidays, their source, and the coverage")
    show.add_argument("year", type=int)
    show.set_defaults(func=cmd_calendar_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
