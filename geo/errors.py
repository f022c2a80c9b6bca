"""Errors of the geo package.

Tree::

    GeoError
    ├── InvalidCoordinates    a position or a coordinate system is unusable; ``.field`` names
    │                         "lon", "lat" or "crs"
    ├── InvalidGeometry       one GeoJSON geometry is unusable; ``.reason`` says why
    └── InvalidZones          a zone set is refused as a whole; ``.problems`` lists every
                              problem found, one ``ZoneProblem`` each

Nothing here knows about HTTP: the application maps ``InvalidCoordinates`` to a 422 naming
the field and ``InvalidZones`` to the 422 ``invalid_zones`` answer of docs/API.md §3.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geo.zone import ZoneProblem


class GeoError(Exception):
    """Base of every error the geo package raises on purpose."""


class InvalidCoordinates(GeoError):
    """A longitude, a latitude or a coordinate system name cannot be used.

    ``field`` is "lon", "lat" or "crs", so that the caller can name the offending field of
    its request.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidGeometry(GeoError):
    """One GeoJSON geometry cannot be used as a zone boundary; ``reason`` says why."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: True when the geometry was refused only for having too many positions.
        self.too_large = too_large


class InvalidZones(GeoError):
    """A zone set is refused as a whole; ``problems`` lists what is wrong, feature by feature."""

    def __init__(self, problems: Iterable[ZoneProblem]) -> None:
        self.problems: list[ZoneProblem] = list(problems)
        count = len(self.problems)
        first = self.problems[0].reason if self.problems else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"invalid zone set: {first}{more}")
