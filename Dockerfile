# syntax=docker/dockerfile:1
#
# The production image of the command centre: `dispatch serve` by default, `dispatch migrate`
# as a one-off (the `migrate` service of docker-compose.yml). See docs/DEPLOY.md.
#
#   docker build -t dispatch-centre .
#   docker run --rm -e DISPATCH_DATABASE_URL=... dispatch-centre migrate
#   docker run -p 8080:8080 -e DISPATCH_DATABASE_URL=... -e DISPATCH_REDIS_URL=... dispatch-centre
#
# No compiler and no GDAL system package: every compiled dependency installs from a manylinux
# wheel (checked for CPython 3.11 on x86_64 and aarch64: asyncpg, hiredis, aiohttp, pydantic-core,
# numpy, pandas, shapely, pyproj (bundles libproj and proj.db), pyogrio (bundles libgdal), ...).
# Those wheels need glibc >= 2.28 and libstdc++, both part of Debian's slim images.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The IANA time zone database: zoneinfo reads it for DISPATCH_TZ (Asia/Shanghai by default), and
# no Python dependency brings the `tzdata` wheel on Linux. Recent slim images may lack it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Every version is pinned by requirements/constraints.txt, the file the tests ran against: pip and
# setuptools first, then the runtime dependencies read from pyproject.toml, so that a change to
# the code alone reuses this (large) layer.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/
RUN pip install --constraint=requirements/constraints.txt pip setuptools \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --constraint=requirements/constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself, without extras: production needs none of the embedded servers. Built
# by the pinned setuptools installed above (no build isolation, which would fetch the newest).
COPY . .
RUN pip install --no-build-isolation --constraint=requirements/constraints.txt . \
    && pip check \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q dispatcher geo realtime

# The code finds migrations/ and frontend/ next to its package (Path(__file__).parent.parent),
# and the wheel that `pip install .` builds does not carry them. So the source tree stays in /app
# and PYTHONPATH puts /app/dispatcher ahead of the installed copy: `dispatch` runs the code that
# sits beside its migrations and console. Drop this once they ship as package data.
ENV PYTHONPATH=/app \
    DISPATCH_HOST=0.0.0.0 \
    DISPATCH_PORT=8080

# Fail the build, not the deployment: the geo stack loads, the time zone exists, and the
# migrations and the console are where the code looks for them.
RUN python -c "import geopandas, pyogrio, pyproj, shapely; from zoneinfo import ZoneInfo; ZoneInfo('Asia/Shanghai'); from dispatcher import app, migrate; assert migrate.discover(), 'no migrations'; assert (app.FRONTEND_DIR / 'index.html').is_file(), 'no console'"

# An unprivileged user. It owns no code, only the one folder the server writes to: photos of
# incidents (DISPATCH_MEDIA_DIR). docker-compose.yml mounts one volume there for every server;
# without a volume the photos die with the container.
RUN groupadd --system --gid 10001 dispatch \
    && useradd --system --uid 10001 --gid dispatch --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin dispatch \
    && mkdir -p /var/lib/dispatch/media \
    && chown -R 10001:10001 /var/lib/dispatch
ENV DISPATCH_MEDIA_DIR=/var/lib/dispatch/media
USER 10001:10001

EXPOSE 8080

# Liveness only (`/readyz` tells whether PostgreSQL and Redis answer). Python, as slim has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DISPATCH_PORT', '8080'), timeout=2)"]

# `dispatch serve` handles SIGTERM itself: it stops accepting, closes WebSockets, waits up to 15 s
# for requests in flight and flushes intake; give it 20 s (stop_grace_period) before SIGKILL.
ENTRYPOINT ["dispatch"]
CMD ["serve"]
