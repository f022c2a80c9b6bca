"""Identifier types shared across the core."""

from typing import NewType

IncidentId = NewType("IncidentId", str)
SquadId = NewType("SquadId", str)
ZoneId = NewType("ZoneId", str)
UnitId = NewType("UnitId", str)
TokenId = NewType("TokenId", str)
CategoryCode = NewType("CategoryCode", str)
