"""Context enrichment: what the model sees is derived from what the shop sent, or the clock."""

from __future__ import annotations

from datetime import UTC, datetime

from decider.enrichment import daypart, enrich
from decider.schemas import Context, Geo
from hypothesis import given
from hypothesis import strategies as st

BOSTON = {"lat": 42.36, "lon": -71.06, "timezone": "America/New_York", "country": "us"}
SYDNEY = {"lat": -33.87, "lon": 151.21, "timezone": "Australia/Sydney", "country": "AU"}
SERVER_NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def context(**fields: object) -> Context:
    return Context.model_validate(fields)


def test_boston_in_november_is_autumn_in_the_north() -> None:
    used = enrich(context(timestamp="2026-11-22T15:00:00Z", geo=BOSTON), SERVER_NOW)
    assert used["hemisphere"] == "north"
    assert used["season"] == "autumn"  # meteorological: September to November


def test_december_is_winter_in_the_north_and_summer_in_the_south() -> None:
    december = "2026-12-15T12:00:00Z"
    assert enrich(context(timestamp=december, geo=BOSTON), SERVER_NOW)["season"] == "winter"
    south = enrich(context(timestamp=december, geo=SYDNEY), SERVER_NOW)
    assert (south["hemisphere"], south["season"]) == ("south", "summer")


def test_season_follows_the_visitors_local_date() -> None:
    # Given 02:00 UTC on 1 December, which is still 30 November, 21:00, in Boston
    used = enrich(context(timestamp="2026-12-01T02:00:00Z", geo=BOSTON), SERVER_NOW)
    # Then the Boston visitor is still in autumn, as their calendar says
    assert (used["weekday"], used["hour"]) == ("mon", 21)
    assert used["season"] == "autumn"


def test_an_explicit_season_wins_over_the_derived_one() -> None:
    used = enrich(
        context(timestamp="2026-11-22T15:00:00Z", season="summer", geo=BOSTON), SERVER_NOW
    )
    assert used["season"] == "summer"
    assert used["hemisphere"] == "north"


def test_local_hour_daypart_and_weekday_come_from_the_timezone() -> None:
    # Given 00:30 UTC on Friday 27 November 2026, i.e. 19:30 on Thursday in New York
    used = enrich(context(timestamp="2026-11-27T00:30:00Z", geo=BOSTON), SERVER_NOW)
    assert used["hour"] == 19
    assert used["daypart"] == "evening"
    assert used["weekday"] == "thu"
    assert used["weekend"] is False


def test_the_same_instant_is_saturday_morning_in_sydney() -> None:
    used = enrich(context(timestamp="2026-11-27T23:30:00Z", geo=SYDNEY), SERVER_NOW)
    assert (used["hour"], used["daypart"], used["weekday"], used["weekend"]) == (
        10,
        "morning",
        "sat",
        True,
    )


def test_without_a_timestamp_the_server_clock_is_used() -> None:
    # Given no timestamp, a server clock at 12:00 UTC on Wednesday 1 July 2026
    used = enrich(context(geo=BOSTON), SERVER_NOW)
    # Then the visitor's local time is 08:00 and it is summer in Boston
    assert (used["hour"], used["daypart"], used["weekday"]) == (8, "morning", "wed")
    assert used["season"] == "summer"


def test_without_geo_there_is_no_season_hemisphere_or_local_time() -> None:
    used = enrich(context(timestamp="2026-12-15T12:00:00Z", channel="web"), SERVER_NOW)
    assert used == {"channel": "web"}


def test_geo_without_latitude_has_no_hemisphere_nor_season() -> None:
    used = enrich(context(geo={"country": "us", "region": "MA"}), SERVER_NOW)
    assert used == {"country": "US", "region": "US-MA"}


def test_device_and_channel_are_passed_through() -> None:
    used = enrich(context(device={"type": "mobile"}, channel="email"), SERVER_NOW)
    assert used == {"device": "mobile", "channel": "email"}


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
latitudes = st.floats(min_value=-90, max_value=90)
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


@given(instant=instants, lat=latitudes)
def test_the_hemispheres_always_have_opposite_seasons(instant: datetime, lat: float) -> None:
    north = enrich(Context(timestamp=instant, geo=Geo(lat=abs(lat) or 1.0)), SERVER_NOW)
    south = enrich(Context(timestamp=instant, geo=Geo(lat=-(abs(lat) or 1.0))), SERVER_NOW)
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
