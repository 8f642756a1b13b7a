"""A simulated shop: visitors with varied context, and how likely each offer converts them.

The demo and the loop tests send these visitors to the API; the API never sees the
conversion model, it only learns it from rewards.
"""

from __future__ import annotations

import dataclasses
import functools
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


def solar_season(local: datetime, lat: float) -> str:
    """The solar season of a local date and latitude, from day counts, apart from the API's."""
    day = (local.timetuple().tm_yday - 1 - _SOLAR_WINTER_START) % 365
    north = "autumn"
    for name, length in _SEASON_LENGTHS:
        if day < length:
            north = name
            break
        day -= length
    return north if lat >= 0 else _FLIP[north]


@dataclass(frozen=True)
class Visitor:
    timestamp: datetime
    city: City
    device: str
    returning: bool

    @property
    def season(self) -> str:
        return solar_season(self.timestamp.astimezone(ZoneInfo(self.city.timezone)), self.city.lat)

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


def house_rule(visitor: Visitor) -> str:
    """What the shop showed before the bandit, its hand-written rule: the season's offer by
    the northern calendar (December to February is winter), whatever the hemisphere."""
    month = visitor.timestamp.astimezone(ZoneInfo(visitor.city.timezone)).month
    season = ("winter", "spring", "summer", "autumn")[month % 12 // 3]
    return SEASON_OFFER[season]


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


def demo_visit(rng: random.Random, index: int, total: int) -> Visit:
    """The demo's shop as one of the benchmark's: a visitor like ``visitors()`` draws."""
    visitor = Visitor(
        timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400)),
        city=rng.choice(list(CITIES.values())),
        device=rng.choice(DEVICES),
        returning=rng.random() < 0.3,
    )
    request = visitor.request("")
    del request["decision_point"]
    return Visit(request, tuple(conversion_probability(visitor, o["id"]) for o in OFFERS))


# --- The learning benchmark's shops ---------------------------------------------------------------
# Each shop turns (rng, index, total) into one visit: the request its frontend sends and the
# hidden chance that each offer converts. None of them was built from the demo's shop above.


@dataclass(frozen=True)
class Visit:
    """One visit: what the frontend sends (without a decision point) and the hidden truth."""

    request: dict[str, Any]
    # The expected reward of each action, in request["actions"] order: its conversion chance
    # times what a conversion is worth (``values``; 1 when there are none).
    truth: tuple[float, ...]
    values: tuple[float, ...] | None = None

    @property
    def action_ids(self) -> list[str]:
        return [action["id"] for action in self.request["actions"]]

    def outcome(self, index: int, coin: float) -> float:
        """The reward of showing action ``index``: its value when the coin falls under its
        conversion chance, else 0."""
        value = self.values[index] if self.values is not None else 1.0
        chance = self.truth[index] / value if value else 0.0
        return value if coin < chance else 0.0


@dataclass(frozen=True)
class SimulatedShop:
    name: str
    about: str
    visit: Any  # (rng: random.Random, index: int, total: int) -> Visit
    change_at: float | None = None  # share of the run after which tastes change
    reward_range: tuple[float, float] = (-1.0, 1.0)  # what its rewards can be (a conversion: 1)


@dataclass(frozen=True)
class Place:
    country: str
    region: str | None
    timezone: str
    lat: float


PLACES = (
    Place("US", "MA", "America/New_York", 42.4),
    Place("US", "CA", "America/Los_Angeles", 34.1),
    Place("GB", "ENG", "Europe/London", 51.5),
    Place("DE", "BY", "Europe/Berlin", 48.1),
    Place("JP", None, "Asia/Tokyo", 35.7),
    Place("AU", "NSW", "Australia/Sydney", -33.9),
    Place("AU", "VIC", "Australia/Melbourne", -37.8),
    Place("NZ", None, "Pacific/Auckland", -36.8),
    Place("AR", "C", "America/Argentina/Buenos_Aires", -34.6),
    Place("ZA", "WC", "Africa/Johannesburg", -33.9),
    Place("SG", None, "Asia/Singapore", 1.35),
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class Person:
    at: datetime
    place: Place
    device: str
    segment: str  # new, returning or vip

    @property
    def local(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.place.timezone))

    @property
    def tropical(self) -> bool:
        return abs(self.place.lat) < 23.44

    @property
    def north_month(self) -> int:
        """The local month, moved six months in the south: 1 is January's weather up north."""
        month = self.local.month
        return month if self.place.lat >= 0 else (month + 5) % 12 + 1

    def context(self) -> dict[str, Any]:
        geo: dict[str, Any] = {"country": self.place.country}
        if self.place.region:
            geo["region"] = self.place.region
        return {
            "timestamp": self.at.isoformat().replace("+00:00", "Z"),
            "geo": geo,
            "device": {"user_agent": USER_AGENTS[self.device]},
            "channel": "web",
        }


def person(rng: random.Random, places: tuple[Place, ...] = PLACES) -> Person:
    return Person(
        at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400)),
        place=rng.choice(places),
        device=rng.choice(DEVICES),
        segment=rng.choices(("new", "returning", "vip"), weights=(6, 3, 1))[0],
    )


def _offers(ids: list[str], features: dict[str, dict[str, Any]] | None = None) -> list[dict]:
    return [{"id": i, "features": (features or {}).get(i, {})} for i in ids]


def _visit(request: dict[str, Any], chance: dict[str, float], default: float) -> Visit:
    ids = [action["id"] for action in request["actions"]]
    return Visit(request, tuple(chance.get(i, default) for i in ids))


SOLAR_OFFERS = ["parka", "swimwear", "umbrella", "hiking-boots", "linen-shirt", "gift-card"]
_SOLAR_BEST = {
    "winter": "parka",
    "spring": "umbrella",
    "summer": "swimwear",
    "autumn": "hiking-boots",
}


def _solar_season(p: Person) -> str:
    return "tropical" if p.tropical else solar_season(p.local, p.place.lat)


def seasonal_solar(rng: random.Random, index: int, total: int, scale: float = 1.0) -> Visit:
    """Sales follow the solar season of the visitor's hemisphere; the tropics want linen."""
    p = person(rng)
    season = _solar_season(p)
    best = "linen-shirt" if season == "tropical" else _SOLAR_BEST[season]
    chance = {best: 0.24, "gift-card": 0.08}
    request = {"context": p.context(), "actions": _offers(SOLAR_OFFERS)}
    return _visit(request, {k: v * scale for k, v in chance.items()}, 0.04 * scale)


MONTH_OFFERS = ["wool-coat", "rain-boots", "sandals", "school-bag", "knitwear", "gift-box"]
# Meteorological quarters by the month, up north; the south has them six months later.
_MONTH_BEST = {
    12: "wool-coat", 1: "wool-coat", 2: "wool-coat", 3: "rain-boots", 4: "rain-boots",
    5: "sandals", 6: "sandals", 7: "sandals", 8: "school-bag", 9: "knitwear", 10: "knitwear",
    11: "knitwear",
}  # fmt: skip


def seasonal_month(rng: random.Random, index: int, total: int) -> Visit:
    """Sales follow the calendar month of the hemisphere, and December is gift month for all."""
    p = person(rng, tuple(place for place in PLACES if abs(place.lat) >= 23.44))
    chance = {_MONTH_BEST[p.north_month]: 0.22}
    if p.local.month == 12:
        chance = {"gift-box": 0.30, _MONTH_BEST[p.north_month]: 0.12}
    request = {"context": p.context(), "actions": _offers(MONTH_OFFERS)}
    return _visit(request, chance, 0.04)


_CATEGORIES = ("outerwear", "footwear", "accessories", "electronics", "home", "beauty")
_PRICES = (9.0, 25.0, 49.0, 99.0, 199.0)
MANY_OFFERS: list[dict[str, Any]] = [
    {"id": f"{category}-{int(price)}", "features": {"category": category, "price": price}}
    for category in _CATEGORIES
    for price in _PRICES
]
_CATEGORY_BY = {
    ("mobile", "new"): "accessories",
    ("mobile", "returning"): "beauty",
    ("desktop", "new"): "electronics",
    ("desktop", "returning"): "home",
    ("tablet", "new"): "home",
    ("tablet", "returning"): "footwear",
}


def many_offers(rng: random.Random, index: int, total: int) -> Visit:
    """30 offers told apart only by category and price: each device and kind of visitor has
    a category; new visitors buy cheap, returning ones mid-range and VIPs expensive."""
    p = person(rng)
    category = _CATEGORY_BY[(p.device, "new" if p.segment == "new" else "returning")]
    if not p.tropical and _solar_season(p) == "winter" and p.segment != "vip":
        category = "outerwear"
    sweet = {"new": 25.0, "returning": 49.0, "vip": 199.0}[p.segment]
    chance = {}
    for offer in MANY_OFFERS:
        price = offer["features"]["price"]
        closeness = 1.0 / (1.0 + abs(_PRICES.index(price) - _PRICES.index(sweet)))
        fits = offer["features"]["category"] == category
        chance[offer["id"]] = (0.28 if fits else 0.04) * closeness + 0.01
    request: dict[str, Any] = {"context": p.context(), "actions": MANY_OFFERS}
    if p.segment != "new":
        request["profile"] = {"segment": p.segment}
    return _visit(request, chance, 0.0)


SEGMENT_OFFERS = ["app-download", "free-shipping", "vip-preview", "bundle", "newsletter"]


def segments(rng: random.Random, index: int, total: int) -> Visit:
    """The profile and the device decide: the app for new mobile visitors, previews for VIPs
    on a big screen, bundles for returning visitors in the evening, interests matter."""
    p = person(rng)
    interests = rng.sample(["running", "cooking", "gaming", "travel"], k=rng.randint(0, 2))
    evening = p.local.hour >= 18
    if p.segment == "vip":
        best = "vip-preview" if p.device != "mobile" else "free-shipping"
    elif p.segment == "returning":
        best = "bundle" if evening or "cooking" in interests else "free-shipping"
    else:
        best = "app-download" if p.device == "mobile" else "newsletter"
    chance = {best: 0.26}
    request: dict[str, Any] = {"context": p.context(), "actions": _offers(SEGMENT_OFFERS)}
    profile: dict[str, Any] = {"segment": p.segment}
    if interests:
        profile["interests"] = interests
    if p.segment != "new":
        request["profile"] = profile
    elif interests:
        request["profile"] = {"interests": interests}
    return _visit(request, chance, 0.05)


def changing_tastes(rng: random.Random, index: int, total: int) -> Visit:
    """The segment shop, until half way: then each kind of visitor wants another offer."""
    visit = segments(rng, index, total)
    if index < total // 2:
        return visit
    # The offers' appeal rotates: what sold to one segment now sells to the next.
    rotated = visit.truth[-1:] + visit.truth[:-1]
    return Visit(visit.request, rotated)


def sparse(rng: random.Random, index: int, total: int) -> Visit:
    """The solar-season shop at a tenth of the conversions (1 to 3%)."""
    visit = seasonal_solar(rng, index, total, scale=0.125)
    return visit


@functools.cache
def _digits() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits  # the benchmark's extra; the demo does not need it

    data = load_digits()
    return data.data, data.target


DIGIT_ACTIONS = [{"id": f"digit-{d}", "features": {}} for d in range(10)]


def digits(rng: random.Random, index: int, total: int) -> Visit:
    """scikit-learn's handwritten digits as a bandit (the standard conversion): the context is
    an 8x8 image's 64 pixels, the actions are the ten digits, and only the right one pays."""
    images, labels = _digits()
    row = rng.randrange(len(labels))
    pixels = {f"px{i}": float(v) / 16 for i, v in enumerate(images[row]) if v}
    request = {"context": {"features": pixels}, "actions": DIGIT_ACTIONS}
    return Visit(request, tuple(1.0 if d == labels[row] else 0.0 for d in range(10)))


BENCHMARK_SHOPS = {
    shop.name: shop
    for shop in (
        SimulatedShop("seasonal-solar", "6 offers by the solar season of each hemisphere",
                      seasonal_solar),
        SimulatedShop("seasonal-month", "6 offers by calendar month per hemisphere; "
                      "December gifts for all", seasonal_month),
        SimulatedShop("many-offers", "30 offers known by category and price", many_offers),
        SimulatedShop("segments", "profile, interests, device and evening decide", segments),
        SimulatedShop("changing-tastes", "the segments shop; tastes rotate half way",
                      changing_tastes, change_at=0.5),
        SimulatedShop("sparse", "the solar shop at 1-3% conversion", sparse),
        SimulatedShop("digits", "scikit-learn's digits, 10 actions, 64 pixel features", digits),
    )
}  # fmt: skip

# Every shop a benchmark can run: the learning benchmark's, and the demo's.
SHOPS = {
    **BENCHMARK_SHOPS,
    "demo": SimulatedShop("demo", "make demo's shop: 4 offers, season and loyalty", demo_visit),
}


# --- Shoppers with histories (issue 10) ------------------------------------------------------
# Each shopper is after one category, which the shop never sends: it shows in what they browse
# (on the web, in the app, in the store) before they come back, and only the profile that
# POST /interactions builds carries it to decide. The season adds a little.

TASTES = ("winter-boots", "outerwear", "running", "beachwear")
PROFILE_OFFERS: list[dict[str, Any]] = [
    {"id": "boots-sale", "features": {"category": "winter-boots"}},
    {"id": "coat-edit", "features": {"category": "outerwear"}},
    {"id": "running-kit", "features": {"category": "running"}},
    {"id": "swim-edit", "features": {"category": "beachwear"}},
]
_SEASONAL_TASTE = {"winter": ("winter-boots", "outerwear"), "summer": ("beachwear",)}
BROWSING_CHANNELS = ("web", "app", "store")


@dataclass(frozen=True)
class Shopper:
    visitor: str
    taste: str
    person: Person

    def interactions(self, rng: random.Random, count: int) -> list[dict[str, Any]]:
        """What they did in the week before this visit: mostly their category, on any
        channel, each with an id (a retried batch counts once)."""
        done = []
        for number in range(count):
            category = self.taste if rng.random() < 0.75 else rng.choice(TASTES)
            kind = rng.choices(("view", "click", "add_to_cart", "store_visit"), (6, 3, 1, 1))[0]
            channel = "store" if kind == "store_visit" else rng.choice(BROWSING_CHANNELS[:2])
            at = self.person.at - timedelta(hours=rng.uniform(1, 24 * 7))
            done.append(
                {
                    "visitor": self.visitor,
                    "type": kind,
                    "item": f"{category}-{rng.randrange(20)}",
                    "category": category,
                    "channel": channel,
                    "at": at.isoformat().replace("+00:00", "Z"),
                    "interaction_id": f"{self.visitor}-{number}",
                }
            )
        return done

    def request(self, channel: str = "app") -> dict[str, Any]:
        """Decide for them as the app does: their id, no profile of its own."""
        return {
            "context": {**self.person.context(), "channel": channel},
            "user_id": self.visitor,
            "actions": PROFILE_OFFERS,
        }

    def truth(self) -> tuple[float, ...]:
        seasonal = _SEASONAL_TASTE.get(solar_season(self.person.local, self.person.place.lat), ())
        return tuple(
            (0.45 if offer["features"]["category"] == self.taste else 0.05)
            + (0.05 if offer["features"]["category"] in seasonal else 0.0)
            for offer in PROFILE_OFFERS
        )


# Shoppers' visits fall before the earliest clock of the demo, tests and benchmarks: what they
# browsed must not lie in the API's future.
_SHOPPERS_UNTIL = datetime(2026, 11, 21, tzinfo=UTC)


def shopper(rng: random.Random, index: int) -> Shopper:
    who = person(rng)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    year = timedelta(days=365)
    at = start + (who.at - start) * ((_SHOPPERS_UNTIL - start) / year)
    return Shopper(
        f"shopper-{index}-{rng.randrange(10**9)}",
        rng.choice(TASTES),
        dataclasses.replace(who, at=at),
    )


@dataclass(frozen=True)
class HistoryVisit(Visit):
    """A visit whose visitor's interactions are reported first (POST /interactions)."""

    interactions: tuple[dict[str, Any], ...] = ()


def browsing(rng: random.Random, index: int, total: int) -> HistoryVisit:
    who = shopper(rng, index)
    history = who.interactions(rng, rng.randint(1, 6))
    return HistoryVisit(
        who.request(rng.choice(BROWSING_CHANNELS[:2])), who.truth(), interactions=tuple(history)
    )


BENCHMARK_SHOPS["browsing"] = SimulatedShop(
    "browsing",
    "4 offers; each shopper is after one category, seen only in their interactions (web, "
    "app, store) before the visit",
    browsing,
)
SHOPS["browsing"] = BENCHMARK_SHOPS["browsing"]


# --- A discount that pays (issue 10): rewards are the order's margin less the discount ---------
# The bigger the discount, the likelier the order, and the less it earns: new visitors are
# worth 10-20% off (more on a phone), returning and VIP shoppers none. The biggest discount is
# never the best.

DISCOUNTS = (0, 5, 10, 20, 30)
DISCOUNT_OFFERS = [
    {"id": f"discount-{d}", "features": {"discount_percent": float(d)}} for d in DISCOUNTS
]
MARGIN = 0.35  # of the order's value, before any discount
_BASE_CONVERSION = {"new": 0.05, "returning": 0.08, "vip": 0.12}
_PRICE_SENSITIVITY = {"new": 2.0, "returning": 0.0, "vip": 0.0}


def discounts(rng: random.Random, index: int, total: int) -> Visit:
    who = person(rng)
    basket = rng.choice((40.0, 80.0, 160.0))
    sensitivity = _PRICE_SENSITIVITY[who.segment] * (1.5 if who.device == "mobile" else 1.0)
    chances, values = [], []
    for discount in DISCOUNTS:
        chances.append(min(_BASE_CONVERSION[who.segment] * (1 + sensitivity * 12 * discount / 100),
                           0.95))  # fmt: skip
        values.append(round(basket * (MARGIN - discount / 100), 2))
    request = {
        "context": {**who.context(), "features": {"cart_value": basket}},
        "profile": {"segment": who.segment},
        "actions": DISCOUNT_OFFERS,
    }
    return Visit(request, tuple(c * v for c, v in zip(chances, values, strict=True)), tuple(values))


BENCHMARK_SHOPS["discounts"] = SimulatedShop(
    "discounts",
    "5 discounts; the reward is the order's margin less the discount (0-56 EUR): new visitors "
    "are worth 10-20% off, returning and VIP shoppers none",
    discounts,
    reward_range=(0.0, 60.0),
)
SHOPS["discounts"] = BENCHMARK_SHOPS["discounts"]
