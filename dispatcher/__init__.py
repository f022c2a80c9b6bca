"""The command centre: domain core (pure) and the application around it.

Pure modules (no aiohttp, asyncpg or redis): ``incidents``, ``lifecycle``, ``clocks``,
``routing``, ``categories``, ``intake``, ``auth``, ``events``, ``errors``.
Adapters: ``store`` (PostgreSQL), ``app`` and ``api_*`` (aiohttp), ``cli``, ``embedded``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Final

#: the distribution whose metadata holds the version (pyproject.toml's ``[project] name``)
DISTRIBUTION: Final = "dispatch-centre"


def _installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree run without `pip install`: no metadata
        return "0+unknown"


#: the version ``dispatch --version`` and ``GET /healthz`` report: pyproject.toml's, as installed
__version__: Final = _installed_version()
