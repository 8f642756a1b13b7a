"""Visitor profiles: decayed, bounded aggregates that the same interactions make in any order,
that merge exactly, and that decide reads as a few features and a fatigue per action."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from decider.context import profiles
from decider.context.profiles import (
    DAY,
    MAX_CATEGORIES,
    MAX_CHANNELS,
    MAX_ITEMS,
    MAX_SEEN_IDS,
    MAX_SHOWN,
    MAX_TYPES,
    Event,
    Profile,
    seen_id,
)
from hypothesis import given, settings
from hypothesis import strategies as st

HALF_LIFE = 30.0
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0

Shown = tuple[str, str, float]


def profile_of(events: Sequence[Event], shown: Sequence[Shown] = ()) -> Profile:
    built = profiles.with_events(Profile(), events, HALF_LIFE)
    return profiles.with_shown(built, shown, HALF_LIFE) if shown else built


def assert_same(a: Profile, b: Profile) -> None:
    """The same profile, its decayed counts within float rounding (sums in another order)."""
    close = pytest.approx
    assert a.as_of == b.as_of
    assert (a.first_seen, a.last_seen) == (b.first_seen, b.last_seen)
    assert dict(a.types) == close(dict(b.types), rel=1e-9)
    assert dict(a.categories) == close(dict(b.categories), rel=1e-9)
    assert dict(a.channels) == close(dict(b.channels), rel=1e-9)
    assert a.spend == close(b.spend, rel=1e-9, abs=1e-9)
    assert a.purchases == b.purchases
    assert a.items == b.items
    assert a.last_channel == b.last_channel
    assert a.shown.keys() == b.shown.keys()
    for key, (count, last) in a.shown.items():
        assert (count, last) == (close(b.shown[key][0], rel=1e-9), b.shown[key][1])
    assert set(a.seen_ids) == set(b.seen_ids)


# Few kinds, categories, channels and items, within three days at distinct seconds: no bound
# is reached, nothing decays below FORGOTTEN, and no two interactions tie on time.
SPAN = 3 * 86400
event_fields = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["view", "click", "add_to_cart", "purchase"]),
        "item": st.sampled_from([None, "boot-1", "boot-2", "coat-9", "hat-3"]),
        "category": st.sampled_from([None, "winter-boots", "coats", "hats"]),
        "channel": st.sampled_from([None, "web", "app", "store"]),
        "value": st.one_of(st.none(), st.floats(min_value=0, max_value=1000)),
        "offset": st.integers(min_value=0, max_value=SPAN),
        "has_id": st.booleans(),
    }
)


def _events(drawn: list[dict]) -> list[Event]:
    return [
        Event(
            type=d["type"],
            at=T0 + d["offset"],
            item=d["item"],
            category=d["category"],
            channel=d["channel"],
            value=d["value"],
            id=f"i-{n}" if d["has_id"] else None,
        )
        for n, d in enumerate(drawn)
    ]


event_lists = st.lists(event_fields, max_size=30, unique_by=lambda d: d["offset"]).map(_events)
shown_lists = st.lists(
    st.tuples(
        st.sampled_from(["home", "cart"]),
        st.sampled_from(["a1", "a2", "a3"]),
        st.integers(min_value=0, max_value=SPAN).map(lambda s: T0 + s),
    ),
    max_size=15,
    unique_by=lambda s: s[2],
)


# --- the same interactions, the same profile ---------------------------------------------------


@given(events=event_lists, shown=shown_lists, data=st.data())
def test_the_same_interactions_in_any_order_make_the_same_profile(
    events: list[Event], shown: list[Shown], data: st.DataObject
) -> None:
    # Given interactions and showings as they happened, and as they arrived (any order)
    arrived = data.draw(st.permutations(events))
    shown_arrived = data.draw(st.permutations(shown))

    # Then the profile they make is the same
    assert_same(profile_of(arrived, shown_arrived), profile_of(events, shown))


@given(events=event_lists, shown=shown_lists, data=st.data())
def test_two_merged_profiles_are_what_their_interactions_together_make(
    events: list[Event], shown: list[Shown], data: st.DataObject
) -> None:
    # Given interactions split between an anonymous id and a known one
    mine = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    shown_mine = data.draw(st.lists(st.booleans(), min_size=len(shown), max_size=len(shown)))
    anonymous = profile_of(
        [e for e, m in zip(events, mine, strict=True) if m],
        [s for s, m in zip(shown, shown_mine, strict=True) if m],
    )
    known = profile_of(
        [e for e, m in zip(events, mine, strict=True) if not m],
        [s for s, m in zip(shown, shown_mine, strict=True) if not m],
    )

    # When they are merged (a link), Then it is one profile of them all, whichever side is whose
    assert_same(profiles.merged(anonymous, known, HALF_LIFE), profile_of(events, shown))
    assert_same(profiles.merged(known, anonymous, HALF_LIFE), profile_of(events, shown))


def test_merging_with_an_empty_profile_changes_nothing() -> None:
    known = profile_of([Event("purchase", T0, item="coat-9", category="coats", value=80.0)])

    assert_same(profiles.merged(Profile(), known, HALF_LIFE), known)


def test_interactions_at_the_same_instant_make_the_same_last_channel_in_any_order() -> None:
    web, app = Event("view", T0, channel="web"), Event("view", T0, channel="app")

    in_order = profile_of([web, app])
    reversed_order = profile_of([app, web])
    merged = profiles.merged(profile_of([web]), profile_of([app]), HALF_LIFE)

    assert in_order.last_channel == reversed_order.last_channel == merged.last_channel


# --- idempotency --------------------------------------------------------------------------------


@given(events=event_lists, data=st.data())
def test_an_interaction_sent_again_is_not_counted_twice(
    events: list[Event], data: st.DataObject
) -> None:
    # Given a profile built from interactions with ids
    with_ids = [e for e in events if e.id is not None]
    profile = profile_of(with_ids)

    # When some of them are sent again (a retried batch), in any order
    again = data.draw(st.lists(st.sampled_from(with_ids), max_size=10)) if with_ids else []

    # Then nothing changes
    assert profiles.with_events(profile, again, HALF_LIFE) == profile


def test_an_id_seen_twice_in_one_batch_counts_once() -> None:
    view = Event("view", T0, item="boot-1", category="winter-boots", id="v-1")

    profile = profile_of([view, view, Event("view", T0 + 60, id="v-1")])

    assert profile.types == {"view": 1.0}
    assert profile.last_seen == T0


def test_interactions_without_an_id_all_count() -> None:
    profile = profile_of([Event("view", T0), Event("view", T0)])

    assert profile.types == {"view": 2.0}


# --- bounds -------------------------------------------------------------------------------------


many_events = st.lists(
    st.builds(
        Event,
        type=st.from_regex(r"[a-z]{1,3}", fullmatch=True),
        at=st.integers(min_value=0, max_value=400 * 86400).map(lambda s: T0 + s),
        item=st.one_of(st.none(), st.from_regex(r"item-[0-9]{1,3}", fullmatch=True)),
        category=st.one_of(st.none(), st.from_regex(r"cat-[0-9]{1,3}", fullmatch=True)),
        channel=st.one_of(st.none(), st.from_regex(r"ch-[0-9]{1,2}", fullmatch=True)),
        value=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
        id=st.one_of(st.none(), st.from_regex(r"id-[0-9]{1,4}", fullmatch=True)),
    ),
    max_size=300,
)
many_shown = st.lists(
    st.tuples(
        st.just("home"),
        st.from_regex(r"a[0-9]{1,3}", fullmatch=True),
        st.integers(min_value=0, max_value=400 * 86400).map(lambda s: T0 + s),
    ),
    max_size=150,
)


@settings(max_examples=50, deadline=None)
@given(events=many_events, shown=many_shown, data=st.data())
def test_a_profile_stays_bounded_however_much_a_visitor_does(
    events: list[Event], shown: list[Shown], data: st.DataObject
) -> None:
    profile = profile_of(events, shown)
    half = data.draw(st.integers(min_value=0, max_value=len(events)))
    merged = profiles.merged(profile_of(events[:half]), profile_of(events[half:]), HALF_LIFE)

    for p in (profile, merged):
        assert len(p.types) <= MAX_TYPES
        assert len(p.categories) <= MAX_CATEGORIES
        assert len(p.channels) <= MAX_CHANNELS
        assert len(p.items) <= MAX_ITEMS
        assert len(p.shown) <= MAX_SHOWN
        assert len(p.seen_ids) <= MAX_SEEN_IDS
        assert len({item for item, _, _ in p.items}) == len(p.items)


def test_the_strongest_categories_are_kept() -> None:
    # Given one category bought from, and more categories glanced at than a profile keeps
    glances = [Event("view", T0 + n, category=f"cat-{n:02d}") for n in range(40)]
    bought = Event("purchase", T0, category="coats", value=10.0)

    profile = profile_of([bought, *glances])

    assert len(profile.categories) == MAX_CATEGORIES
    assert "coats" in profile.categories
    # the most recent glances are worth (a little) more than the older ones
    assert "cat-39" in profile.categories
    assert "cat-00" not in profile.categories


def test_the_newest_items_are_kept_newest_first() -> None:
    views = [Event("view", T0 + n * 60, item=f"item-{n:02d}") for n in range(25)]

    profile = profile_of(views[::-1])

    assert [item for item, _, _ in profile.items] == [f"item-{n:02d}" for n in range(24, 14, -1)]
    assert len(profile.items) == MAX_ITEMS


def test_an_item_seen_again_moves_to_the_front_once() -> None:
    profile = profile_of(
        [
            Event("view", T0, item="boot-1"),
            Event("view", T0 + 60, item="coat-9"),
            Event("view", T0 + 120, item="boot-1"),
        ]
    )

    assert [item for item, _, _ in profile.items] == ["boot-1", "coat-9"]


def test_the_latest_interaction_ids_are_remembered() -> None:
    views = [Event("view", T0 + n, id=f"v-{n}") for n in range(MAX_SEEN_IDS + 100)]

    profile = profile_of(views)

    assert len(profile.seen_ids) == MAX_SEEN_IDS
    assert set(profile.seen_ids) == {seen_id(f"v-{n}") for n in range(100, MAX_SEEN_IDS + 100)}
    # the latest retried is still not counted twice
    assert profiles.with_events(profile, views[-MAX_SEEN_IDS:], HALF_LIFE) == profile


# --- decay --------------------------------------------------------------------------------------


def test_a_count_is_worth_half_a_half_life_later() -> None:
    # Given a visitor who viewed once and bought for 120
    profile = profile_of(
        [
            Event("view", T0, category="coats"),
            Event("purchase", T0, category="coats", value=120.0),
        ]
    )

    # When it is read one half-life later
    later = profiles.decayed(profile, T0 + HALF_LIFE * DAY, HALF_LIFE)

    # Then every count and the spend are worth half; the number of orders is not decayed
    assert later.types == pytest.approx({"view": 0.5, "purchase": 0.5})
    assert later.categories == pytest.approx({"coats": 0.5 * (1.0 + 4.0)})
    assert later.spend == pytest.approx(60.0)
    assert later.purchases == 1
    assert later.last_seen == T0


def test_an_older_interaction_arriving_late_counts_for_what_it_is_worth_now() -> None:
    recent = Event("view", T0 + HALF_LIFE * DAY)
    old = Event("view", T0)

    assert profile_of([recent, old]).types == pytest.approx({"view": 1.5})
    assert profile_of([recent, old]).first_seen == T0


def test_what_has_decayed_to_nearly_nothing_is_forgotten() -> None:
    profile = profile_of([Event("view", T0, category="hats", channel="web")])

    years_later = profiles.decayed(profile, T0 + 10 * HALF_LIFE * DAY, HALF_LIFE)

    assert years_later.types == {}
    assert years_later.categories == {}
    assert years_later.channels == {}


def test_reading_a_profile_at_an_earlier_instant_does_not_inflate_it() -> None:
    profile = profile_of([Event("view", T0 + DAY)])

    assert profiles.decayed(profile, T0, HALF_LIFE) == profile


# --- features: what decide learns from ----------------------------------------------------------


def shopper() -> Profile:
    """Boots looked at on the web and put in the cart in the app, a coat bought in store last,
    and once a glance at a hat."""
    return profile_of(
        [
            Event("view", T0, item="boot-1", category="winter-boots", channel="web"),
            Event("view", T0 + 1 * HOUR, item="hat-3", category="hats", channel="web"),
            Event("view", T0 + 2 * HOUR, item="boot-2", category="winter-boots", channel="app"),
            Event(
                "add_to_cart", T0 + 3 * HOUR, item="boot-2", category="winter-boots", channel="app"
            ),
            Event(
                "purchase",
                T0 + 4 * HOUR,
                item="coat-9",
                category="coats",
                channel="store",
                value=120.0,
            ),
        ]
    )


def test_features_describe_the_visitor_in_the_profile_vocabulary() -> None:
    now = T0 + 4 * HOUR + HALF_LIFE * DAY  # a half-life after the purchase

    found = profiles.features(shopper(), now, HALF_LIFE)

    # categories by interest (boots 1+1+3, coats 4 for a purchase; hats 1 is under 15%)
    assert found["top_categories"] == ["winter-boots", "coats"]
    assert found["last_category"] == "coats"
    assert found["recent_items"] == ["coat-9", "boot-2", "hat-3", "boot-1"]
    assert found["channels"] == ["app", "web", "store"]
    assert found["last_channel"] == "store"
    assert found["spend"] == 60.0
    assert found["orders"] == 1
    assert found["n_purchase"] == 0.5
    assert found["n_view"] == pytest.approx(1.5, abs=0.01)
    assert found["activity"] == pytest.approx(2.5, abs=0.01)
    assert found["days_since_seen"] == 30.0


def test_features_name_at_most_three_top_categories_and_five_recent_items() -> None:
    views = [
        Event("view", T0 + n * 60, item=f"item-{n}", category=f"cat-{n % 4}") for n in range(8)
    ]

    found = profiles.features(profile_of(views), T0 + DAY, HALF_LIFE)

    assert len(found["top_categories"]) == 3
    assert found["recent_items"] == ["item-7", "item-6", "item-5", "item-4", "item-3"]
    assert found["last_category"] == "cat-3"


def test_days_since_seen_counts_from_the_last_interaction() -> None:
    profile = profile_of([Event("view", T0), Event("view", T0 + 2 * DAY)])

    assert profiles.features(profile, T0 + 2 * DAY + 36 * HOUR, HALF_LIFE)["days_since_seen"] == 1.5
    # a clock a little behind never makes a negative age
    assert profiles.features(profile, T0, HALF_LIFE)["days_since_seen"] == 0.0


def test_a_visitor_who_never_bought_has_no_spend_or_orders() -> None:
    found = profiles.features(profile_of([Event("view", T0, value=99.0)]), T0, HALF_LIFE)

    assert "spend" not in found
    assert "orders" not in found
    assert found["n_view"] == 1.0


def test_a_shops_own_interaction_type_never_overwrites_a_profile_feature() -> None:
    profile = profile_of(
        [
            Event("view", T0),
            Event("activity", T0),
            Event("spend", T0),
            Event("purchase", T0, value=50.0),
        ]
    )

    found = profiles.features(profile, T0, HALF_LIFE)

    assert found["activity"] == 4.0
    assert found["spend"] == 50.0


def test_an_empty_profile_has_no_features() -> None:
    assert profiles.features(Profile(), T0, HALF_LIFE) == {}


def test_a_profile_only_shown_actions_has_no_features_but_is_not_empty() -> None:
    shown_only = profiles.with_shown(Profile(), [("home", "a1", T0)], HALF_LIFE)

    assert profiles.features(shown_only, T0, HALF_LIFE) == {}
    assert not shown_only.empty
    assert Profile().empty


# --- fatigue ------------------------------------------------------------------------------------


def test_fatigue_says_per_action_in_order_how_often_and_how_lately_it_was_shown() -> None:
    profile = profiles.with_shown(
        Profile(),
        [
            ("home", "a1", T0),
            ("home", "a1", T0 + 1 * HOUR),
            ("home", "a2", T0 + 2 * HOUR),
            ("cart", "a3", T0 + 2 * HOUR),
        ],
        HALF_LIFE,
    )

    found = profiles.fatigue(profile, "home", ["a2", "a3", "a1"], T0 + 3 * HOUR, HALF_LIFE)

    assert found == [
        {"times_shown": 1.0, "hours_since_shown": 1.0},
        {},  # shown at another decision point only
        {"times_shown": 2.0, "hours_since_shown": 2.0},
    ]


def test_fatigue_fades_with_time() -> None:
    profile = profiles.with_shown(Profile(), [("home", "a1", T0)], HALF_LIFE)

    [found] = profiles.fatigue(profile, "home", ["a1"], T0 + HALF_LIFE * DAY, HALF_LIFE)

    assert found == {"times_shown": 0.5, "hours_since_shown": HALF_LIFE * 24}


def test_actions_never_shown_have_no_fatigue() -> None:
    assert profiles.fatigue(Profile(), "home", ["a1", "a2"], T0, HALF_LIFE) == [{}, {}]
    assert profiles.fatigue(shopper(), "home", [], T0, HALF_LIFE) == []


# --- stored as JSON -----------------------------------------------------------------------------


@given(events=event_lists, shown=shown_lists, unicode=st.text(min_size=1, max_size=20))
def test_a_profile_survives_its_json_round_trip(
    events: list[Event], shown: list[Shown], unicode: str
) -> None:
    profile = profile_of(
        [*events, Event("view", T0, item=unicode, category=unicode, channel="web", id=unicode)],
        shown,
    )

    assert profiles.from_json(profiles.to_json(profile)) == profile


def test_an_empty_profile_survives_its_json_round_trip() -> None:
    assert profiles.from_json(profiles.to_json(Profile())) == Profile()
