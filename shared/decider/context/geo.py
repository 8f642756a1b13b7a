"""Where a visitor is, from what the shop knows: a country, perhaps a region.

The source is the IANA time zone database as the ``tzdata`` package ships it (``zone.tab``:
each zone's country, principal location and a comment naming the regions it covers), with
the ``us`` package for the zones of US states and ``pycountry`` for subdivision names.
"""

from __future__ import annotations

import importlib.resources
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import pycountry
import us


@dataclass(frozen=True)
class Zone:
    country: str
    lat: float
    lon: float
    timezone: str
    comment: str


@dataclass(frozen=True)
class Place:
    """What can be told of a country and region: a time zone when it is unambiguous, a
    typical latitude, and the hemisphere when every candidate zone lies in the same one."""

    timezone: str | None
    lat: float | None
    hemisphere: str | None


TROPIC = 23.44


@lru_cache(maxsize=4096)
def locate(country: str, region: str | None, on: date) -> Place:
    zones = zones_of(country.upper())
    if not zones:
        return Place(None, None, None)
    candidates = _for_region(country.upper(), region) if region else []
    if not candidates:
        candidates = _main_zones(zones, datetime.combine(on, time(12), UTC))
    lats = sorted(zone.lat for zone in candidates)
    hemispheres = {hemisphere_of(lat) for lat in lats}
    return Place(
        timezone=candidates[0].timezone if len(candidates) == 1 else None,
        lat=lats[len(lats) // 2],
        hemisphere=hemispheres.pop() if len(hemispheres) == 1 else None,
    )


@lru_cache(maxsize=1024)
def zone(timezone: str) -> ZoneInfo:
    """The time zone, kept: ZoneInfo's own cache holds only the last eight strongly, and a
    shop's visitors come from more."""
    return ZoneInfo(timezone)


def zone_latitude(timezone: str) -> float | None:
    """The latitude of a time zone's principal location, when zone.tab lists the zone."""
    return _latitudes().get(timezone)


@cache
def _latitudes() -> dict[str, float]:
    return {zone.timezone: zone.lat for zone in _all_zones()}


def hemisphere_of(lat: float) -> str:
    return "south" if lat < 0 else "north"


@cache
def zones_of(country: str) -> list[Zone]:
    return [zone for zone in _all_zones() if zone.country == country]


@cache
def _all_zones() -> list[Zone]:
    text = importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    zones = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        lat, lon = _coordinates(fields[1])
        comment = fields[3] if len(fields) > 3 else ""
        zones.append(Zone(fields[0], lat, lon, fields[2], comment))
    return zones


@lru_cache(maxsize=4096)
def _for_region(country: str, region: str) -> list[Zone]:
    """The zones that cover a region, the one the database says covers most of it first
    (kept: it does not change from day to day, as a country's main zones can)."""
    code = region.upper().removeprefix(f"{country}-")
    zones = zones_of(country)
    if country == "US":
        state = us.states.lookup(code)
        named = set(state.time_zones) if state else set()
        zones = [zone for zone in zones if zone.timezone in named]
        scored = [(_mentions_most(zone) + 2 * _mentions(zone, code), zone) for zone in zones]
    else:
        name = _subdivision_name(country, code)
        scored = [
            (2 * _mentions(zone, code) + 2 * bool(name and _plain(name) in _plain(zone.comment))
             + _mentions_most(zone), zone)
            for zone in zones
        ]  # fmt: skip
        scored = [(score, zone) for score, zone in scored if score >= 2]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [zone for score, zone in scored if score == best][:1]


def _main_zones(zones: list[Zone], at: datetime) -> list[Zone]:
    """Without a region: the zone said to cover most of the country, or the first listed when
    the country's zones are within an hour of each other; otherwise all of them (ambiguous)."""
    if len(zones) == 1:
        return zones
    most = [zone for zone in zones if zone.comment.lower().startswith("most of")]
    if len(most) == 1:
        return most
    offsets = [at.astimezone(zone(each.timezone)).utcoffset() for each in zones]
    known = [offset.total_seconds() for offset in offsets if offset is not None]
    if known and max(known) - min(known) <= 3600:
        return zones[:1]
    return zones


def _mentions(zone: Zone, code: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(code)}(?![A-Za-z])", zone.comment) is not None


def _mentions_most(zone: Zone) -> int:
    return int("most" in zone.comment.lower())


def _subdivision_name(country: str, code: str) -> str | None:
    subdivision = pycountry.subdivisions.get(code=f"{country}-{code}")
    return subdivision.name if subdivision else None


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _coordinates(text: str) -> tuple[float, float]:
    """ISO 6709 as zone.tab writes it: ±DDMM[SS]±DDDMM[SS]."""
    found = re.fullmatch(r"([+-])(\d{2})(\d{2})(\d{2})?([+-])(\d{3})(\d{2})(\d{2})?", text)
    if not found:
        raise ValueError(f"bad coordinates in zone.tab: {text!r}")
    sign_lat, d_lat, m_lat, s_lat, sign_lon, d_lon, m_lon, s_lon = found.groups()
    lat = int(d_lat) + int(m_lat) / 60 + int(s_lat or 0) / 3600
    lon = int(d_lon) + int(m_lon) / 60 + int(s_lon or 0) / 3600
    return (-lat if sign_lat == "-" else lat), (-lon if sign_lon == "-" else lon)
