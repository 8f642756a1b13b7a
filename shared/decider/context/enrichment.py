"""Context enrichment: derive what the model should see from what the shop sent.

An explicit field always wins over a derived one. The derivations: the place (time zone,
latitude, hemisphere) from the country and region (decider.context.geo) when no coordinates or time
zone are sent; the season from the visitor's local date and latitude; local time of day from
the time zone; holidays and retail days (decider.context.occasions); device and OS from the user
agent (decider.context.device).
"""

from __future__ import annotations

from datetime import date, datetime

from decider.context.device import device_of
from decider.context.geo import TROPIC, Place, hemisphere_of, locate, zone, zone_latitude
from decider.context.occasions import occasions
from decider.schemas import Context, Geo

ContextUsed = dict[str, str | int | bool]
# Shown in context_used but not learned from: with a few thousand decisions, 24 hours and
# 7 weekdays (each crossed with every action) are noise; daypart and weekend carry the signal,
# and the time zone adds nothing that country, region and local time don't.
DISPLAY_ONLY = frozenset({"hour", "weekday", "timezone"})
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Solar seasons: the quarter of the year around each solstice and equinox, so that the
# darkest three months (7 November to 3 February in the north) are winter.
_NORTH_SEASON_STARTS = ((2, 4, "spring"), (5, 6, "summer"), (8, 7, "autumn"), (11, 7, "winter"))
_OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


def enrich(context: Context, now: datetime) -> ContextUsed:
    instant = context.timestamp or now
    geo = context.geo or Geo()
    place = (
        locate(geo.country, geo.region, instant.date()) if geo.country else Place(None, None, None)
    )
    timezone = geo.timezone or place.timezone
    local = instant.astimezone(zone(timezone)) if timezone else instant
    lat = geo.lat if geo.lat is not None else place.lat
    hemisphere = hemisphere_of(geo.lat) if geo.lat is not None else place.hemisphere
    if lat is None and geo.timezone:  # a time zone alone still tells where on Earth
        lat = zone_latitude(geo.timezone)
        hemisphere = hemisphere_of(lat) if lat is not None else None

    used: ContextUsed = {}
    if hemisphere:
        used["hemisphere"] = hemisphere
    season = context.season or season_of(local.date(), lat, hemisphere)
    if season:
        used["season"] = season
    used.update(calendar(local.date(), hemisphere))
    if timezone:
        used["timezone"] = timezone
        used.update(local_time(local))
    used.update(_device(context))
    if context.channel:
        used["channel"] = context.channel
    if geo.country:
        used["country"] = geo.country.upper()
        if geo.region:
            used["region"] = f"{geo.country.upper()}-{_region_code(geo)}"
    used.update(
        occasions(
            local.date(), geo.country, _region_code(geo) if geo.country and geo.region else None
        )
    )
    return used


def season_of(local_date: date, lat: float | None, hemisphere: str | None) -> str | None:
    """``tropical`` within the tropics; else the solar season of the hemisphere."""
    if lat is not None and abs(lat) < TROPIC:
        return "tropical"
    if hemisphere is None:
        return None
    north = "winter"
    for month, day, season in _NORTH_SEASON_STARTS:
        if (local_date.month, local_date.day) >= (month, day):
            north = season
    return north if hemisphere == "north" else _OPPOSITE[north]


def calendar(local_date: date, hemisphere: str | None) -> ContextUsed:
    """The month, and the month of the seasons: six months on in the south, so that what
    sells in a northern December and a southern June is learned as one thing."""
    month = local_date.month
    found: ContextUsed = {"month": _MONTHS[month - 1]}
    if hemisphere:
        shifted = month if hemisphere == "north" else (month + 5) % 12 + 1
        found["seasonal_month"] = _MONTHS[shifted - 1]
    return found


def local_time(local: datetime) -> ContextUsed:
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


def _device(context: Context) -> ContextUsed:
    device = context.device
    parsed = device_of(device.user_agent) if device and device.user_agent else {}
    found: ContextUsed = dict(parsed)
    if device and device.type:
        found["device"] = device.type
    return found


def _region_code(geo: Geo) -> str:
    assert geo.country and geo.region
    return geo.region.upper().removeprefix(f"{geo.country.upper()}-")
