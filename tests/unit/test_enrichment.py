"""Context enrichment: what the model sees is derived from what the shop sent, or the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from decider.context.enrichment import DISPLAY_ONLY, daypart, enrich
from decider.context.geo import TROPIC
from decider.learning.featurize import features_of
from decider.schemas import Context, DecideRequest, Geo
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.shops import CITIES, City

BOSTON = {"lat": 42.36, "lon": -71.06, "timezone": "America/New_York", "country": "us"}
SYDNEY = {"lat": -33.87, "lon": 151.21, "timezone": "Australia/Sydney", "country": "AU"}
SERVER_NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
THANKSGIVING_EVENING_IN_BOSTON = "2026-11-27T00:30:00Z"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def context(**fields: object) -> Context:
    return Context.model_validate(fields)


def test_thanksgiving_evening_in_boston_from_country_and_region_alone() -> None:
    # Given only a timestamp, a country and a region
    geo = {"country": "US", "region": "MA"}
    used = enrich(context(timestamp=THANKSGIVING_EVENING_IN_BOSTON, geo=geo), SERVER_NOW)
    # Then it is 19:30 on Thursday, in winter, in the north, on Thanksgiving, in Black Friday week
    assert (used["season"], used["hemisphere"], used["daypart"]) == ("winter", "north", "evening")
    assert (used["hour"], used["weekday"], used["timezone"]) == (19, "thu", "America/New_York")
    assert used["holiday"] == "thanksgiving_day"
    assert used["retail_event"] == "black_friday_week"


def test_the_same_instant_is_a_summer_morning_in_sydney() -> None:
    geo = {"country": "AU", "region": "NSW"}
    used = enrich(context(timestamp=THANKSGIVING_EVENING_IN_BOSTON, geo=geo), SERVER_NOW)
    assert (used["season"], used["hemisphere"], used["daypart"]) == ("summer", "south", "morning")
    assert (used["hour"], used["weekday"]) == (11, "fri")
    assert used["retail_event"] == "black_friday"
    assert "holiday" not in used  # Thanksgiving is not an Australian holiday


@pytest.mark.parametrize(
    ("region", "timezone"),
    [
        ("TX", "America/Chicago"),
        ("US-CA", "America/Los_Angeles"),
        ("IN", "America/Indiana/Indianapolis"),
        ("AZ", "America/Phoenix"),
    ],
)
def test_a_us_state_gives_its_time_zone(region: str, timezone: str) -> None:
    used = enrich(context(geo={"country": "US", "region": region}), SERVER_NOW)
    assert used["timezone"] == timezone


@pytest.mark.parametrize(
    ("country", "region", "timezone"),
    [
        ("AU", "WA", "Australia/Perth"),
        ("AU", "VIC", "Australia/Melbourne"),
        ("CA", "ON", "America/Toronto"),
        ("CA", "BC", "America/Vancouver"),
        ("BR", "SP", "America/Sao_Paulo"),
        ("DE", None, "Europe/Berlin"),  # "most of Germany"
        ("ES", None, "Europe/Madrid"),  # Spain's zones are within an hour of each other
        ("JP", None, "Asia/Tokyo"),
    ],
)
def test_country_and_region_give_a_time_zone(
    country: str, region: str | None, timezone: str
) -> None:
    used = enrich(context(geo={"country": country, "region": region}), SERVER_NOW)
    assert used["timezone"] == timezone


def test_a_country_of_several_time_zones_without_a_region_has_no_local_time() -> None:
    # Given the US without a state, in November
    used = enrich(context(timestamp="2026-11-20T12:00:00Z", geo={"country": "US"}), SERVER_NOW)
    # Then it is winter in the north, but which hour it is there is not guessed
    assert (used["hemisphere"], used["season"]) == ("north", "winter")
    assert not {"timezone", "hour", "daypart"} & set(used)


def test_a_region_unknown_to_the_time_zone_database_falls_back_to_the_country() -> None:
    used = enrich(context(geo={"country": "AU", "region": "XYZ"}), SERVER_NOW)
    assert used["hemisphere"] == "south"
    assert "timezone" not in used  # Australia spans several hours


def test_the_tropics_have_no_winter() -> None:
    assert enrich(context(geo={"country": "SG"}), SERVER_NOW)["season"] == "tropical"
    assert enrich(context(geo={"lat": 0.0}), SERVER_NOW)["season"] == "tropical"
    # Brazil without a state straddles the equator: no hemisphere, but mostly tropical
    brazil = enrich(context(geo={"country": "BR"}), SERVER_NOW)
    assert brazil["season"] == "tropical"
    assert "hemisphere" not in brazil


@pytest.mark.parametrize(
    ("timestamp", "season"),
    [
        ("2026-11-06T17:00:00Z", "autumn"),
        ("2026-11-07T17:00:00Z", "winter"),
        ("2026-02-03T17:00:00Z", "winter"),
        ("2026-02-04T17:00:00Z", "spring"),
        ("2026-05-06T17:00:00Z", "summer"),
        ("2026-08-07T17:00:00Z", "autumn"),
    ],
)
def test_solar_seasons_in_boston(timestamp: str, season: str) -> None:
    assert enrich(context(timestamp=timestamp, geo=BOSTON), SERVER_NOW)["season"] == season


def test_season_follows_the_visitors_local_date() -> None:
    # Given 03:00 UTC on 7 November, which is still 6 November, 22:00, in Boston
    used = enrich(context(timestamp="2026-11-07T03:00:00Z", geo=BOSTON), SERVER_NOW)
    assert (used["weekday"], used["hour"]) == ("fri", 22)
    assert used["season"] == "autumn"


def test_explicit_fields_win_over_derived_ones() -> None:
    used = enrich(
        context(
            timestamp=THANKSGIVING_EVENING_IN_BOSTON,
            season="summer",
            geo={"country": "US", "region": "MA", "lat": -10.0, "timezone": "Europe/Paris"},
            device={"type": "desktop", "user_agent": IPHONE},
        ),
        SERVER_NOW,
    )
    assert used["season"] == "summer"
    assert used["hemisphere"] == "south"  # from the explicit latitude
    assert (used["timezone"], used["hour"]) == ("Europe/Paris", 1)
    assert (used["device"], used["os"]) == ("desktop", "ios")


def test_the_days_before_christmas_are_counted() -> None:
    geo = {"country": "GB"}
    used = enrich(context(timestamp="2026-12-22T10:00:00Z", geo=geo), SERVER_NOW)
    assert used["upcoming_holiday"] == "christmas_day"
    assert used["days_to_holiday"] == "2-3"
    assert used["retail_event"] == "christmas_shopping"


def test_a_public_holiday_is_named() -> None:
    geo = {"country": "US", "region": "NY"}
    used = enrich(context(timestamp="2026-07-04T16:00:00Z", geo=geo), SERVER_NOW)
    assert used["holiday"] == "independence_day"


def test_a_country_the_holidays_library_does_not_know_has_no_holidays() -> None:
    used = enrich(context(timestamp="2026-12-22T10:00:00Z", geo={"country": "ZZ"}), SERVER_NOW)
    assert used["country"] == "ZZ"
    assert not {"holiday", "upcoming_holiday", "hemisphere", "timezone"} & set(used)


@pytest.mark.parametrize(
    ("user_agent", "device", "os"),
    [
        (IPHONE, "mobile", "ios"),
        (IPAD, "tablet", "ios"),
        (WINDOWS, "desktop", "windows"),
        (GOOGLEBOT, "bot", None),
    ],
)
def test_device_and_os_come_from_the_user_agent(
    user_agent: str, device: str, os: str | None
) -> None:
    used = enrich(context(device={"user_agent": user_agent}), SERVER_NOW)
    assert used["device"] == device
    assert used.get("os") == os


def test_without_geo_or_device_only_global_retail_days_are_derived() -> None:
    used = enrich(context(timestamp="2026-03-15T12:00:00Z", channel="web"), SERVER_NOW)
    assert used == {"channel": "web", "month": "mar"}


def test_hour_weekday_and_timezone_are_shown_but_not_learned() -> None:
    request = DecideRequest.model_validate(
        {"decision_point": "home", "context": {"geo": BOSTON}, "actions": [{"id": "a"}]}
    )
    used = enrich(request.context, SERVER_NOW)
    features = features_of(request, used, request.actions)
    assert set(used) >= DISPLAY_ONLY
    assert not DISPLAY_ONLY & set(features.context)
    assert {"daypart", "weekend", "season"} <= set(features.context)


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
latitudes = st.floats(min_value=-90, max_value=90)
outside_tropics = st.floats(min_value=TROPIC, max_value=90)
timezones = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Australia/Sydney",
        "Pacific/Auckland",
        "America/Sao_Paulo",
        "Pacific/Chatham",
    ]
)
OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


@given(instant=instants, lat=outside_tropics)
def test_the_hemispheres_always_have_opposite_seasons(instant: datetime, lat: float) -> None:
    north = enrich(Context(timestamp=instant, geo=Geo(lat=lat)), SERVER_NOW)
    south = enrich(Context(timestamp=instant, geo=Geo(lat=-lat)), SERVER_NOW)
    assert (north["hemisphere"], south["hemisphere"]) == ("north", "south")
    assert OPPOSITE[str(north["season"])] == south["season"]


@given(instant=instants, lat=latitudes, timezone=timezones)
def test_local_time_features_agree_with_each_other(
    instant: datetime, lat: float, timezone: str
) -> None:
    used = enrich(Context(timestamp=instant, geo=Geo(lat=lat, timezone=timezone)), SERVER_NOW)
    hour = used["hour"]
    assert isinstance(hour, int) and 0 <= hour < 24
    assert used["daypart"] == daypart(hour)
    assert used["weekend"] == (used["weekday"] in ("sat", "sun"))


@given(
    instant=instants,
    lat=latitudes,
    season=st.sampled_from(["spring", "summer", "autumn", "winter"]),
)
def test_an_explicit_season_always_wins(instant: datetime, lat: float, season: str) -> None:
    used = enrich(
        Context.model_validate({"timestamp": instant, "season": season, "geo": {"lat": lat}}),
        SERVER_NOW,
    )
    assert used["season"] == season


@settings(max_examples=200)
@given(
    instant=instants,
    country=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    region=st.none() | st.text(min_size=1, max_size=12),
    user_agent=st.none() | st.text(max_size=300),
)
def test_any_country_region_and_user_agent_enrich_without_error(
    instant: datetime, country: str, region: str | None, user_agent: str | None
) -> None:
    used = enrich(
        Context.model_validate(
            {
                "timestamp": instant,
                "geo": {"country": country, "region": region},
                "device": {"user_agent": user_agent},
            }
        ),
        SERVER_NOW,
    )
    assert used["country"] == country
    assert used.get("device", "desktop") in {"mobile", "tablet", "desktop", "bot"}
    assert used.get("season", "winter") in {"spring", "summer", "autumn", "winter", "tropical"}


@pytest.mark.parametrize("city", list(CITIES.values()), ids=lambda city: city.name)
def test_the_demo_shops_cities_are_placed_from_country_and_region(city: City) -> None:
    geo = {"country": city.country, "region": city.region}
    used = enrich(context(geo=geo), SERVER_NOW)
    assert used["timezone"] == city.timezone
    assert used["hemisphere"] == ("north" if city.lat >= 0 else "south")


def test_a_region_without_a_country_is_shown_nowhere_and_breaks_nothing() -> None:
    used = enrich(context(timestamp="2026-03-15T12:00:00Z", geo={"region": "MA"}), SERVER_NOW)
    assert used == {"month": "mar"}  # of the UTC date: no place, no local date


def test_a_time_zone_alone_gives_hemisphere_and_season() -> None:
    geo = {"timezone": "Australia/Sydney"}
    used = enrich(context(timestamp=THANKSGIVING_EVENING_IN_BOSTON, geo=geo), SERVER_NOW)
    assert (used["hemisphere"], used["season"], used["daypart"]) == ("south", "summer", "morning")


def test_a_timestamp_beyond_the_plausible_years_is_refused() -> None:
    with pytest.raises(ValueError, match="between the years"):
        context(timestamp="9999-12-31T20:00:00Z", geo={"country": "US", "region": "MA"})
