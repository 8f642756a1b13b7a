"""A simulated shop: visitors with varied context, and how likely each offer converts them.

The demo and the loop tests send these visitors to the API; the API never sees the
conversion model, it only learns it from rewards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OFFERS: list[dict[str, Any]] = [
    {"id": "winter-coat", "features": {"category": "outerwear", "price": 129.0}},
    {"id": "sunglasses", "features": {"category": "accessories", "price": 39.0}},
    {"id": "rain-jacket", "features": {"category": "outerwear", "price": 89.0}},
    {"id": "loyalty-discount", "features": {"category": "promotion", "price": 0.0}},
]


@dataclass(frozen=True)
class City:
    """Where a visitor is. The shop sends only country and region; the API derives the rest."""

    name: str
    lat: float
    timezone: str
    country: str
    region: str


CITIES = {
    city.name: city
    for city in (
        City("boston", 42.36, "America/New_York", "US", "MA"),
        City("london", 51.51, "Europe/London", "GB", "ENG"),
        City("berlin", 52.52, "Europe/Berlin", "DE", "BE"),
        City("sydney", -33.87, "Australia/Sydney", "AU", "NSW"),
        City("buenos-aires", -34.60, "America/Argentina/Buenos_Aires", "AR", "C"),
        City("cape-town", -33.92, "Africa/Johannesburg", "ZA", "WC"),
    )
}
# What each kind of device sends as its user agent; the API tells the device from it.
USER_AGENTS = {
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
}
DEVICES = list(USER_AGENTS)
SEASON_OFFER = {
    "winter": "winter-coat",
    "summer": "sunglasses",
    "spring": "rain-jacket",
    "autumn": "rain-jacket",
}
# The shop's customers shop by solar season (the quarter of the year around each solstice and
# equinox), which is also what the API derives; written out here on its own, from day counts,
# so that a mistake in the API's seasons shows up as a demo that does not learn.
_SOLAR_WINTER_START = 310  # 7 November, counted from 0 in a non-leap year (2026)
_SEASON_LENGTHS = (("winter", 89), ("spring", 91), ("summer", 93), ("autumn", 92))
_FLIP = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


@dataclass(frozen=True)
class Visitor:
    timestamp: datetime
    city: City
    device: str
    returning: bool

    @property
    def season(self) -> str:
        local = self.timestamp.astimezone(ZoneInfo(self.city.timezone))
        day = (local.timetuple().tm_yday - 1 - _SOLAR_WINTER_START) % 365
        north = "autumn"
        for name, length in _SEASON_LENGTHS:
            if day < length:
                north = name
                break
            day -= length
        return north if self.city.lat >= 0 else _FLIP[north]

    @property
    def local_hour(self) -> int:
        return self.timestamp.astimezone(ZoneInfo(self.city.timezone)).hour

    def request(self, decision_point: str) -> dict[str, Any]:
        """What the shop's frontend sends: raw facts only; the API derives season and daypart."""
        body: dict[str, Any] = {
            "decision_point": decision_point,
            "context": {
                "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "geo": {"country": self.city.country, "region": self.city.region},
                "device": {"user_agent": USER_AGENTS[self.device]},
                "channel": "web",
            },
            "actions": OFFERS,
        }
        if self.returning:
            body["profile"] = {"segment": "returning"}
        return body


def conversion_probability(visitor: Visitor, offer_id: str) -> float:
    """The shop's hidden truth: the season's product sells; returning visitors in the
    evening take the loyalty discount; nothing else does much."""
    evening = visitor.local_hour >= 18
    if visitor.returning and evening:
        return 0.35 if offer_id == "loyalty-discount" else 0.03
    if offer_id == SEASON_OFFER[visitor.season]:
        return 0.30 if visitor.device != "tablet" else 0.22
    return 0.03


def best_probability(visitor: Visitor) -> float:
    return max(conversion_probability(visitor, offer["id"]) for offer in OFFERS)


def uniform_probability(visitor: Visitor) -> float:
    return sum(conversion_probability(visitor, o["id"]) for o in OFFERS) / len(OFFERS)


def visitors(seed: int, start: datetime | None = None) -> Any:
    """An endless stream of visitors spread over a year, six cities, day and night."""
    rng = random.Random(seed)
    origin = start or datetime(2026, 1, 1, tzinfo=UTC)
    while True:
        yield Visitor(
            timestamp=origin + timedelta(seconds=rng.randrange(365 * 86400)),
            city=rng.choice(list(CITIES.values())),
            device=rng.choice(DEVICES),
            returning=rng.random() < 0.3,
        )
