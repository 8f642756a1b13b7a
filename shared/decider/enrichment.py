"""Context enrichment: derive what the model should see from what the shop sent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from decider.schemas import Context

ContextUsed = dict[str, str | int | bool]
# Shown in context_used but not learned from: with a few thousand decisions, 24 hours and
# 7 weekdays (each crossed with every action) are noise; daypart and weekend carry the signal.
DISPLAY_ONLY = frozenset({"hour", "weekday"})

_NORTH_SEASONS = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}
_OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def enrich(context: Context, now: datetime) -> ContextUsed:
    """The derived context features; an explicit field always wins over a derived one."""
    instant = context.timestamp or now
    geo = context.geo
    used: ContextUsed = {}
    hemisphere = _hemisphere(geo.lat) if geo and geo.lat is not None else None
    if hemisphere:
        used["hemisphere"] = hemisphere
    # The visitor's calendar decides the season: 02:00 UTC on 1 December is November in Boston.
    local = instant.astimezone(ZoneInfo(geo.timezone)) if geo and geo.timezone else instant
    season = context.season or (season_of(local, hemisphere) if hemisphere else None)
    if season:
        used["season"] = season
    if geo and geo.timezone:
        used.update(local_time(instant, geo.timezone))
    if context.device and context.device.type:
        used["device"] = context.device.type
    if context.channel:
        used["channel"] = context.channel
    if geo and geo.country:
        used["country"] = geo.country.upper()
        if geo.region:
            used["region"] = f"{geo.country.upper()}-{geo.region}"
    return used


def season_of(instant: datetime, hemisphere: str) -> str:
    """Meteorological season: December to February is winter in the north, summer in the south."""
    north = _NORTH_SEASONS[instant.month]
    return north if hemisphere == "north" else _OPPOSITE[north]


def local_time(instant: datetime, timezone: str) -> ContextUsed:
    local = instant.astimezone(ZoneInfo(timezone))
    return {
        "hour": local.hour,
        "daypart": daypart(local.hour),
        "weekday": _WEEKDAYS[local.weekday()],
        "weekend": local.weekday() >= 5,
    }


def daypart(hour: int) -> str:
    if hour < 6:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 18:
        return "afternoon"
    return "evening"


def _hemisphere(lat: float) -> str:
    return "south" if lat < 0 else "north"
