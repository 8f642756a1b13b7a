"""Public holidays (the ``holidays`` library) and the big retail days around them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache

import holidays
import holidays.countries  # every country, at init (0.1 s), not on a first decide

ContextUsed = dict[str, str | int | bool]
UPCOMING_DAYS = 14


def occasions(
    local_date: date, country: str | None, region: str | None
) -> Mapping[str, str | int | bool]:
    """What a day is, where: kept per (date, country, region), which a shop's traffic repeats
    all day. ``holiday`` today, the next one within two weeks (``upcoming_holiday``,
    ``days_to_holiday`` as 1, 2-3, 4-7, 8-14), and ``retail_event`` (Black Friday week,
    Black Friday, Cyber Monday, Christmas shopping)."""
    return _occasions(local_date, country, region)


@lru_cache(maxsize=8192)
def _occasions(local_date: date, country: str | None, region: str | None) -> ContextUsed:
    used: ContextUsed = {}
    calendar = _calendar(country, region, local_date.year) if country else {}
    if local_date in calendar:
        used["holiday"] = _slug(calendar[local_date])
    upcoming = _next_holiday(local_date, country, region)
    if upcoming:
        when, name = upcoming
        used["upcoming_holiday"] = _slug(name)
        used["days_to_holiday"] = _bucket((when - local_date).days)
    event = retail_event(local_date, celebrates_christmas=_has_christmas(calendar))
    if event:
        used["retail_event"] = event
    return used


def retail_event(local_date: date, celebrates_christmas: bool) -> str | None:
    # Black Friday follows US Thanksgiving (the fourth Thursday of November) the world over.
    thanksgiving = _fourth_thursday_of_november(local_date.year)
    offset = (local_date - thanksgiving).days
    if offset == 1:
        return "black_friday"
    if offset == 4:
        return "cyber_monday"
    if -3 <= offset <= 4:
        return "black_friday_week"
    if celebrates_christmas and local_date.month == 12 and local_date.day <= 24:
        return "christmas_shopping"
    return None


def _next_holiday(local_date: date, country: str | None, region: str | None
                  ) -> tuple[date, str] | None:  # fmt: skip
    if not country:
        return None
    horizon = local_date + timedelta(days=UPCOMING_DAYS)
    found = []
    for year in {local_date.year, horizon.year}:
        found += [(when, name) for when, name in _calendar(country, region, year).items()
                  if local_date < when <= horizon]  # fmt: skip
    return min(found) if found else None


@lru_cache(maxsize=1024)
def _calendar(country: str | None, region: str | None, year: int) -> dict[date, str]:
    if not country:
        return {}
    for subdivision in (region, None):
        try:
            found = holidays.country_holidays(
                country.upper(), subdiv=_subdivision(country, subdivision), years=year,
                language="en_US",
            )  # fmt: skip
            return dict(found.items())
        except NotImplementedError:  # an unknown country or subdivision
            continue
    return {}


def _subdivision(country: str, region: str | None) -> str | None:
    return region.upper().removeprefix(f"{country.upper()}-") if region else None


def _has_christmas(calendar: dict[date, str]) -> bool:
    return any(when.month == 12 and when.day == 25 for when in calendar)


def _fourth_thursday_of_november(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


def _bucket(days: int) -> str:
    if days <= 1:
        return "1"
    if days <= 3:
        return "2-3"
    if days <= 7:
        return "4-7"
    return "8-14"


def _slug(name: str) -> str:
    # "Christmas Day; Boxing Day" (two on one date) keeps the first.
    first = name.split(";")[0]
    return re.sub(r"[^a-z0-9]+", "_", first.lower()).strip("_")
