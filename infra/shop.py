"""A simulated shop: visitors with varied context, and how likely each offer converts them.

The demo and the loop tests send these visitors to the API; the API never sees the
conversion model, it only learns it from rewards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OFFERS: list[dict[str, Any]] = [
    {"id": "winter-coat", "features": {"category": "outerwear", "price": 129.0}},
    {"id": "sunglasses", "features": {"category": "accessories", "price": 39.0}},
    {"id": "rain-jacket", "features": {"category": "outerwear", "price": 89.0}},
    {"id": "loyalty-discount", "features": {"category": "promotion", "price": 0.0}},
]

# (city, latitude, timezone): two hemispheres, several time zones.
CITIES = [
    ("boston", 42.36, "America/New_York"),
    ("london", 51.51, "Europe/London"),
    ("berlin", 52.52, "Europe/Berlin"),
    ("sydney", -33.87, "Australia/Sydney"),
    ("buenos-aires", -34.60, "America/Argentina/Buenos_Aires"),
    ("cape-town", -33.92, "Africa/Johannesburg"),
]
DEVICES = ["mobile", "desktop", "tablet"]
SEASON_OFFER = {
    "winter": "winter-coat",
    "summer": "sunglasses",
    "spring": "rain-jacket",
    "autumn": "rain-jacket",
}
_NORTH_SEASON = ["winter"] * 2 + ["spring"] * 3 + ["summer"] * 3 + ["autumn"] * 3 + ["winter"]
_FLIP = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


@dataclass(frozen=True)
class Visitor:
    timestamp: datetime
    lat: float
    timezone: str
    device: str
    returning: bool

    @property
    def season(self) -> str:
        north = _NORTH_SEASON[self.timestamp.month - 1]
        return north if self.lat >= 0 else _FLIP[north]

    @property
    def local_hour(self) -> int:
        from zoneinfo import ZoneInfo

        return self.timestamp.astimezone(ZoneInfo(self.timezone)).hour

    def request(self, decision_point: str) -> dict[str, Any]:
        """What the shop's frontend sends: raw facts only; the API derives season and daypart."""
        body: dict[str, Any] = {
            "decision_point": decision_point,
            "context": {
                "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "geo": {"lat": self.lat, "timezone": self.timezone},
                "device": {"type": self.device},
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
        _, lat, timezone = rng.choice(CITIES)
        yield Visitor(
            timestamp=origin + timedelta(seconds=rng.randrange(365 * 86400)),
            lat=lat,
            timezone=timezone,
            device=rng.choice(DEVICES),
            returning=rng.random() < 0.3,
        )
