# syntax=docker/dockerfile:1
#
# The production image of the command centre: `dispatch serve` by default, `dispatch migrate`
# as a one-off (the `migrate` service of docker-compose.yml). See docs/DEPLOY.md.
#
#   docker build -t dispatch-centre .
#   docker build --build-arg EXTRAS=import -t dispatch-centre:import .   # with `dispatch zones import`
#   docker run --rm -e DISPATCH_DATABASE_URL=... dispatch-centre migrate
#   docker run -p 8080:8080 -e DISPATCH_DATABASE_URL=... -e DISPATCH_REDIS_URL=... dispatch-centre
#
# No compiler and no GDAL system package: every compiled dependency installs from a manylinux
# wheel (checked for CPython 3.11 on x86_64 and aarch64: asyncpg, hiredis, aiohttp, pydantic-core,
# numpy, shapely, pyproj (bundles libproj and proj.db); with EXTRAS=import also pandas and pyogrio
# (bundles libgdal)).
# Those wheels need glibc >= 2.28 and libstdc++, both part of Debian's slim images.
FROM python:3.11-slim-bookworm

# Extras of pyproject.toml to install besides the server, comma-separated. None by default: the
# zone import's readers (`import`: geopandas, pandas, pyogrio, ~200 MB) serve one command, which
# an operator may run from an image built with EXTRAS=import or from any `pip install
# 'dispatch-centre[import]'` (docs/DEPLOY.md).
ARG EXTRAS=""

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
# setuptools first, then the runtime dependencies read from pyproject.toml (and those of EXTRAS),
# so that a change to the code alone reuses this (large) layer.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/
RUN pip install --constraint=requirements/constraints.txt pip setuptools \
    && python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e.strip() for e in os.environ['EXTRAS'].split(',') if e.strip()]; print('\n'.join(p['dependencies'] + [r for e in extras for r in p['optional-dependencies'][e] if not r.startswith(p['name'])]))" > /tmp/requirements.txt \
    && pip install --constraint=requirements/constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself, its dependencies already in place: production needs none of the
# embedded servers. Built by the pinned setuptools installed above (no build isolation, which
# would fetch the newest) from the build context mounted for this one step, so no source file
# stays in the image: the installed package carries its migrations and its console as package
# data (dispatcher/migrations, dispatcher/frontend), and nothing needs PYTHONPATH.
RUN --mount=type=bind,source=.,target=/src,rw \
    pip install --no-build-isolation --constraint=requirements/constraints.txt /src \
    && pip check
ENV DISPATCH_HOST=0.0.0.0 \
    DISPATCH_PORT=8080

# Fail the build, not the deployment: the geo stack loads, the time zone exists, the code runs
# from the installed package and its migrations and console are in it; the zone import's readers
# are there exactly when EXTRAS asked for them.
RUN python -c "import os, pyproj, shapely, sysconfig; from pathlib import Path; from zoneinfo import ZoneInfo; ZoneInfo('Asia/Shanghai'); import dispatcher; from dispatcher import app; from dispatcher.store import migrate; assert Path(dispatcher.__file__).is_relative_to(sysconfig.get_paths()['purelib']), dispatcher.__file__; assert migrate.discover(), 'no migrations'; assert (app.FRONTEND_DIR / 'index.html').is_file(), 'no console'; import importlib.util as u; assert ('import' in os.environ['EXTRAS']) == (u.find_spec('geopandas') is not None), 'EXTRAS and geopandas disagree'"

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
