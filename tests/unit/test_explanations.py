"""Explanations: a sentence a visitor can read, from the features that raised the chosen
action's score most; never a feature's name, and only ever "something new" for exploration."""

from __future__ import annotations

import re

import pytest
from decider.context.explanations import (
    BASELINE,
    EXPLORATORY,
    MAX_FACTORS,
    POPULAR,
    explanation,
)
from decider.learning.featurize import escape_name, escape_value
from hypothesis import given
from hypothesis import strategies as st

WINTER_BOOTS = ("ph", "top_categories=winter-boots", 0.5)


def test_an_exploratory_pick_is_only_ever_something_new() -> None:
    explained = explanation("exploratory", [WINTER_BOOTS, ("c", "season=winter", 0.4)])

    assert explained.kind == "exploratory"
    assert explained.reason == "Something new we think you may like."
    assert explained.reason == EXPLORATORY
    assert explained.factors == []


def test_a_baseline_pick_is_the_featured_pick() -> None:
    explained = explanation("baseline", [WINTER_BOOTS])

    assert explained.kind == "baseline"
    assert explained.reason == BASELINE == "Our featured pick right now."
    assert explained.factors == []


def test_the_best_pick_is_explained_by_what_the_visitor_looked_at() -> None:
    explained = explanation("best", [WINTER_BOOTS])

    assert explained.kind == "best"
    assert explained.reason == "Because you looked at winter boots."
    [factor] = explained.factors
    assert factor.family == "profile_category"
    assert factor.namespace == "history"
    assert (factor.feature, factor.value, factor.weight) == ("top_categories", "winter-boots", 0.5)


def test_the_best_pick_is_explained_by_the_season() -> None:
    explained = explanation("best", [("c", "season=winter", 0.3)])

    assert explained.reason == "Popular this winter."
    [factor] = explained.factors
    assert (factor.family, factor.namespace) == ("season_place", "context")
    assert (factor.feature, factor.value) == ("season", "winter")


def test_with_only_features_that_lowered_the_score_the_pick_is_popular() -> None:
    explained = explanation("best", [("c", "season=winter", -0.2), ("ph", "view", 0.0)])

    assert explained.reason == POPULAR == "Popular with shoppers right now."
    assert explained.factors == []


def test_the_best_pick_with_no_contributions_is_popular() -> None:
    assert explanation("best").reason == POPULAR


def test_the_strongest_factor_a_sentence_can_say_gives_the_reason() -> None:
    # Given the shop's own feature first (no template says it), then the time of day
    explained = explanation(
        "best",
        [
            ("x", "basket_size", 0.9),
            ("c", "daypart=evening", 0.4),
            WINTER_BOOTS,
            ("c", "weekend", 0.1),
            ("ph", "recent_items=boot-42", 0.05),
        ],
    )

    assert explained.reason == "Often chosen in the evening."
    assert len(explained.factors) == MAX_FACTORS
    assert [f.feature for f in explained.factors] == ["basket_size", "daypart", "top_categories"]
    assert explained.factors[0].family == "visit"


def test_factor_weights_are_rounded() -> None:
    [factor] = explanation("best", [("c", "weekend", 0.123456789)]).factors

    assert factor.weight == 0.123457


@pytest.mark.parametrize(
    ("namespace", "key", "reason"),
    [
        ("ph", "top_categories=winter-boots", "Because you looked at winter boots."),
        ("ph", "last_category=rain_coats", "Because you looked at rain coats."),
        ("p", "favourite_category=green-tea", "Because you like green tea."),
        ("ph", "recent_items=boot-42", "Because of something you looked at recently."),
        ("ph", "add_to_cart", "Picked for you, from what you have done with us."),
        ("ph", "days_since_seen", "Picked for you, from what you have done with us."),
        ("p", "loyalty_tier=gold", "Picked for you, from your profile."),
        ("ph", "channels=store", "Because you have shopped with us in our store."),
        ("ph", "last_channel=email", "Because you have shopped with us by email."),
        ("c", "channel=app", "Picked for shopping in our app."),
        ("c", "season=summer", "Popular this summer."),
        ("c", "season=tropical", "Popular in the tropics now."),
        ("c", "month=dec", "Popular in December."),
        ("c", "seasonal_month=jun", "Popular in June."),
        ("c", "country=DE", "Popular near you."),
        ("c", "region=US-CA", "Popular near you."),
        ("c", "daypart=morning", "Often chosen in the morning."),
        ("c", "weekend", "Popular at the weekend."),
        ("c", "device=mobile", "Suited to your phone."),
        ("c", "browser=firefox", "Suited to your device."),
        ("c", "upcoming_holiday=christmas_day", "In time for Christmas Day."),
        ("c", "retail_event=black_friday", "In time for Black Friday."),
        ("c", "days_to_holiday=2-3", "In time for the holidays."),
        ("c", "hemisphere=north", POPULAR),
        ("x", "basket_size", POPULAR),
    ],
)
def test_each_family_of_features_has_its_sentence(namespace: str, key: str, reason: str) -> None:
    assert explanation("best", [(namespace, key, 0.3)]).reason == reason


# The features decide learns from, by namespace (featurize's names, as contributions give them).
VOCABULARY = {
    "c": ["season", "seasonal_month", "month", "hemisphere", "country", "region", "daypart",
          "weekend", "device", "os", "browser", "channel", "upcoming_holiday",
          "days_to_holiday", "retail_event", "holiday", "local_hour"],
    "ph": ["top_categories", "last_category", "recent_items", "channels", "last_channel",
           "days_since_seen", "activity", "spend", "orders", "view", "add_to_cart"],
    "p": ["favourite_category", "interests", "loyalty_tier", "age_band"],
    "x": ["basket_size", "campaign_id"],
}  # fmt: skip
# Closed vocabularies (enrichment's and the schema's); any other value is a shop's label.
CLOSED = {
    "season": ["spring", "summer", "autumn", "winter", "tropical"],
    "month": ["jan", "jun", "dec"],
    "seasonal_month": ["jan", "jun", "dec"],
    "hemisphere": ["north", "south"],
    "daypart": ["night", "morning", "afternoon", "evening"],
    "device": ["mobile", "tablet", "desktop", "bot"],
    "channel": ["web", "app", "email", "push", "store", "call_center", "other"],
    "last_channel": ["web", "app", "store", "other"],
    "channels": ["web", "email", "call_center"],
}
labels = st.from_regex(r"[a-z][a-z0-9]{0,8}([-_ ][a-z0-9]{1,8}){0,3}", fullmatch=True)
feature_values = st.sampled_from(
    [(ns, name) for ns, names in VOCABULARY.items() for name in names]
).flatmap(
    lambda feature: st.tuples(
        st.just(feature),
        st.one_of(st.none(), st.sampled_from(CLOSED[feature[1]]))
        if feature[1] in CLOSED
        else st.one_of(st.none(), labels),
    )
)
PLAIN_SENTENCE = re.compile(r"[A-Z][A-Za-z0-9 ,]*\.")


@given(contributions=st.lists(st.tuples(feature_values, st.floats(-1, 1)), max_size=6))
def test_a_reason_never_names_a_feature(
    contributions: list[tuple[tuple[tuple[str, str], str | None], float]],
) -> None:
    # Given contributions as the policy gives them: escaped VW features
    escaped = [
        (ns, escape_name(name) + ("" if value is None else f"={escape_value(value)}"), weight)
        for ((ns, name), value), weight in contributions
    ]

    reason = explanation("best", escaped).reason

    # Then the reason is a plain sentence, with no feature's name in it
    assert PLAIN_SENTENCE.fullmatch(reason), reason
    for ((_, name), _), _ in contributions:
        if "_" in name:
            assert name not in reason


def test_escaped_features_are_named_as_they_were_sent() -> None:
    explained = explanation(
        "best",
        [
            ("p", "%5Fname=a%25b", 0.3),
            ("x", "size%3Dxl=a=b", 0.2),
            ("ph", "top_categories=50%25 off", 0.1),
        ],
    )

    assert [(f.feature, f.value) for f in explained.factors] == [
        ("_name", "a%b"),
        ("size=xl", "a=b"),
        ("top_categories", "50% off"),
    ]
    assert explained.factors[0].namespace == "profile"
    assert explained.factors[1].namespace == "visit"
    # the sentence says the strongest specific factor, a generic profile feature only when
    # nothing specific raised the choice
    assert explained.reason == "Because you looked at 50% off."


@given(name=st.text(min_size=1, max_size=20), value=st.text(max_size=20))
def test_any_escaped_feature_is_unescaped_to_its_own_name_and_value(name: str, value: str) -> None:
    [factor] = explanation(
        "best", [("x", f"{escape_name(name)}={escape_value(value)}", 1.0)]
    ).factors

    assert (factor.feature, factor.value) == (name, value)


def test_a_generic_factor_speaks_only_when_nothing_specific_raised_the_choice() -> None:
    # Activity every visitor has speaks for an action's popularity, not for this visitor
    both = explanation("best", [("ph", "activity", 0.5), ("ph", "top_categories=boots", 0.1)])
    assert both.reason == "Because you looked at boots."
    assert [f.feature for f in both.factors] == ["activity", "top_categories"]  # by weight
    alone = explanation("best", [("ph", "activity", 0.5), ("c", "season=winter", -0.2)])
    assert alone.reason == "Picked for you, from what you have done with us."
