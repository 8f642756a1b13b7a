"""Featurization: any value is exactly one feature and can never change which features exist."""

from __future__ import annotations

import json
import re
from typing import Any

import vowpal_wabbit_next as vw
from decider.learning import featurize
from decider.learning.featurize import (
    Label,
    escape_name,
    escape_value,
    magnitude_bucket,
    namespace,
    to_vw_json,
)
from decider.learning.policy import vw_args
from decider.records import DecisionFeatures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Characters VW's text format or our own encoding give a meaning to, plus unicode.
SPECIALS = "|:= \t\n\r\"'\\%_{}[],#éß雪🙂"
nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(codec="utf-8")),
    max_size=40,
)
values = st.one_of(nasty_text, st.text(max_size=10_000))
names = st.one_of(nasty_text.filter(bool), st.sampled_from(["_", "_label", "=", "%3D", "%5F"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
    st.lists(nasty_text, max_size=5),
)
feature_dicts = st.dictionaries(names, scalars, max_size=6)
decision_features = st.builds(
    DecisionFeatures,
    context=feature_dicts,
    custom=feature_dicts,
    profile=feature_dicts,
    actions=st.lists(st.tuples(nasty_text.filter(bool), feature_dicts), min_size=1, max_size=4),
)


def split_key(key: str) -> tuple[str, str | None]:
    """A categorical key is ``name=value``; the first ``=`` is the separator."""
    name, sep, value = key.partition("=")
    return name, value if sep else None


# --- one value, one feature ----------------------------------------------------------------------


@given(name=names, value=values)
def test_any_string_value_is_exactly_one_feature_holding_it_verbatim(name: str, value: str) -> None:
    # When a string value is featurized
    features = namespace({name: value})
    # Then it is one categorical feature, and the value comes back unchanged after the name
    assert list(features.values()) == [1.0]
    (key,) = features
    assert split_key(key) == (escape_name(name), escape_value(value))


@given(name=names)
def test_escaped_names_hold_no_separator_and_no_reserved_prefix(name: str) -> None:
    escaped = escape_name(name)
    assert "=" not in escaped
    assert not escaped.startswith("_")


@given(first=names, second=names)
def test_escape_name_is_injective(first: str, second: str) -> None:
    if first != second:
        assert escape_name(first) != escape_name(second)


@given(first=st.tuples(names, values), second=st.tuples(names, values))
def test_two_different_categorical_pairs_never_share_a_key(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    if first != second:
        assert set(namespace(dict([first]))) != set(namespace(dict([second])))


@given(name=names, other=names, value=values, number=st.floats(-1e6, 1e6))
def test_a_number_feature_never_shares_a_key_with_a_string_feature(
    name: str, other: str, value: str, number: float
) -> None:
    assert set(namespace({name: number})).isdisjoint(namespace({other: value}))


@given(features=st.dictionaries(names, values, min_size=1, max_size=8), data=st.data())
def test_no_value_adds_removes_or_renames_another_feature(
    features: dict[str, str], data: st.DataObject
) -> None:
    # Given some string features, one of which gets an arbitrary new value
    target = data.draw(st.sampled_from(sorted(features)))
    changed = {**features, target: data.draw(values)}
    # When both are featurized
    before, after = namespace(features), namespace(changed)
    # Then there is one feature per name, each under its own (escaped) name
    assert sorted(split_key(k)[0] for k in after) == sorted(escape_name(n) for n in changed)
    # And every other feature is exactly as it was
    others = {escape_name(n) for n in features if n != target}
    assert {k for k in before if split_key(k)[0] in others} == {
        k for k in after if split_key(k)[0] in others
    }


@given(features=decision_features)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_vw_json_has_only_our_namespaces_whatever_the_values(features: DecisionFeatures) -> None:
    # When a decision with arbitrary names and values becomes a VW example
    example = json.loads(to_vw_json(features, Label(0, -1.0, 0.5)))
    # Then its only reserved keys are the label and _multi: no value injected another one
    reserved = {k for k in example if k.startswith("_")}
    assert reserved == {
        "_label_cost",
        "_label_probability",
        "_label_Action",
        "_labelIndex",
        "_multi",
    }
    assert set(example) - reserved <= {"c", "x", "p"}
    assert example.get("x", {}) == namespace(features.custom)
    assert example.get("p", {}) == namespace(features.profile)
    assert example.get("c", {}) == namespace(features.context, categorical_numbers=True)
    assert len(example["_multi"]) == len(features.actions)
    for (action_id, action_features), line in zip(features.actions, example["_multi"], strict=True):
        assert line == {"a": namespace(action_features), "i": {f"id={escape_value(action_id)}": 1}}
    for ns in [example.get(n, {}) for n in "cxp"] + [ln["a"] for ln in example["_multi"]]:
        assert not any(key.startswith("_") for key in ns)


def no_key_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


@given(features=decision_features)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_kept_parts_make_the_same_example_as_fresh_ones(features: DecisionFeatures) -> None:
    # Given the caches of feature and action texts emptied
    featurize._FRAGMENTS.clear()
    featurize._ACTIONS.clear()
    # When the same decision becomes an example twice: made fresh, then from what was kept
    fresh = to_vw_json(features, Label(0, -1.0, 0.5))
    kept = to_vw_json(features, Label(0, -1.0, 0.5))
    # Then both are the same text, and no namespace names a feature twice (VW would add them)
    assert kept == fresh
    json.loads(fresh, object_pairs_hook=no_key_twice)


def test_one_true_and_one_point_zero_are_kept_apart() -> None:
    # 1, 1.0 and True are equal (and hash alike) in Python, but not as features
    texts = [
        to_vw_json(DecisionFeatures({}, {"n": v}, {}, [("a", {"n": v})])) for v in (1, 1.0, True)
    ]
    flag = json.loads(texts[2])
    assert flag["x"] == {"n": 1.0} and flag["_multi"][0]["a"] == {"n": 1.0}
    assert json.loads(texts[0]) == json.loads(texts[1]) != flag


# --- types: nulls, booleans, numbers, lists ------------------------------------------------------


def test_nulls_and_false_add_nothing() -> None:
    assert namespace({"coupon": None, "returning": False}) == {}
    assert namespace({"coupon": None, "returning": True}) == {"returning": 1.0}
    # Empty namespaces are left out of the example altogether
    empty = DecisionFeatures(
        context={}, custom={"a": None}, profile={"b": False}, actions=[("coat", {"c": None})]
    )
    example = json.loads(to_vw_json(empty))
    assert set(example) == {"_multi"}
    assert example["_multi"] == [{"a": {}, "i": {"id=coat": 1}}]


@given(name=names, number=st.one_of(st.integers(-(10**15), 10**15), st.floats(-1e15, 1e15)))
def test_numbers_are_a_magnitude_and_the_half_octave_they_fall_in(name: str, number: float) -> None:
    key = escape_name(name)
    assert namespace({name: number}) == {
        key: float(number),
        f"{key}~{magnitude_bucket(number)}": 1.0,
    }


def test_half_octaves_tell_prices_apart_and_signs_apart() -> None:
    buckets = [magnitude_bucket(v) for v in (9, 25, 49, 99, 199, 0, 1, 0.25, -4, 1.4, 1.5)]
    assert buckets == [
        "+2^3", "+2^4.5", "+2^5.5", "+2^6.5", "+2^7.5", "0", "+2^0", "+2^-2", "-2^2", "+2^0",
        "+2^0.5",
    ]  # fmt: skip


def test_a_name_with_a_tilde_is_not_a_numbers_bucket() -> None:
    assert namespace({"price": 9.0, "price~+2^3": True}) == {
        "price": 9.0,
        "price~+2^3": 1.0,
        "price%7E+2^3": 1.0,
    }


def test_derived_context_numbers_are_categories() -> None:
    # An hour of 19 is not "19 times an hour of 1": the context namespace treats it as a category
    assert namespace({"hour": 19, "weekend": True}, categorical_numbers=True) == {
        "hour=19": 1.0,
        "weekend": 1.0,
    }
    example = json.loads(to_vw_json(DecisionFeatures({"hour": 19}, {"hour": 19}, {}, [("a", {})])))
    assert example["c"] == {"hour=19": 1.0}
    assert example["x"] == {"hour": 19.0, "hour~+2^4": 1.0}


@given(name=names, items=st.lists(nasty_text, max_size=8), data=st.data())
def test_lists_are_sets(name: str, items: list[str], data: st.DataObject) -> None:
    # Given the same items in another order, some repeated
    shuffled = data.draw(st.permutations(items)) + data.draw(
        st.lists(st.sampled_from(items), max_size=3) if items else st.just([])
    )
    # Then the features are the same: one per distinct item
    assert namespace({name: items}) == namespace({name: shuffled})
    expected = {f"{escape_name(name)}={escape_value(item)}": 1.0 for item in set(items)}
    assert namespace({name: items}) == expected


@given(value=nasty_text)
def test_namespaces_keep_same_named_features_apart(value: str) -> None:
    # Given the same name and value as context, custom, profile and action feature, and as action id
    same = {"k": value}
    features = DecisionFeatures(
        context=same, custom=same, profile=same, actions=[(value, {"id": value, **same})]
    )
    example = json.loads(to_vw_json(features))
    key = f"k={escape_value(value)}"
    # Then each lives in its own namespace, and the action id never mixes with action features
    assert example["c"] == example["x"] == example["p"] == {key: 1.0}
    escaped = escape_value(value)
    assert example["_multi"] == [{"a": {key: 1.0, f"id={escaped}": 1.0}, "i": {f"id={escaped}": 1}}]


# --- VW's own parser -----------------------------------------------------------------------------

FEATURE_LINE = re.compile(r"^(?P<name>.*):(?P<hash>\d+):(?P<weight>\S+)(?: .*)?$")


def learned_feature_names(features: DecisionFeatures) -> set[str]:
    """Learn one labelled example with VW's JSON parser and list the features it weighted."""
    workspace = vw.Workspace(vw_args(["--epsilon", "0.2"]), record_feature_names=True)
    parser = vw.JsonFormatParser(workspace)
    workspace.learn_one(parser.parse_json(to_vw_json(features, Label(0, -1.0, 0.5))))
    model = workspace.readable_model(include_feature_names=True)
    return {m["name"] for line in model.splitlines() if (m := FEATURE_LINE.match(line))}


def single(names_found: set[str], namespace_name: str) -> set[str]:
    """The plain (not interacted) features of one namespace."""
    return {n for n in names_found if n.startswith(f"{namespace_name}^") and "*" not in n}


def test_vw_keeps_a_value_with_pipes_colons_and_spaces_as_one_feature() -> None:
    value = 'coat | size:XL  "winter sale" a=b %3D é 雪'
    features = DecisionFeatures(
        context={"season": "winter"},
        custom={"referrer": value},
        profile={"_segment": "returning"},
        actions=[("coat", {"category": "outer wear|x:1"}), ("hat", {"price": 20.0})],
    )
    found = learned_feature_names(features)
    # Then VW saw each value verbatim, as one feature, in its own namespace
    assert single(found, "x") == {f"x^referrer={escape_value(value)}"}
    assert single(found, "c") == {"c^season=winter"}
    assert single(found, "p") == {"p^%5Fsegment=returning"}
    assert single(found, "a") == {"a^category=outer wear|x:1"}
    assert single(found, "i") == {"i^id=coat"}
    assert f"x^referrer={escape_value(value)}*a^category=outer wear|x:1" in found


def test_vw_keeps_same_named_features_of_each_namespace_apart() -> None:
    same = {"k": "v"}
    features = DecisionFeatures(
        context=same, custom=same, profile=same, actions=[("v", {"id": "v", **same}), ("w", {})]
    )
    found = learned_feature_names(features)
    assert {n for n in found if "*" not in n} >= {
        "c^k=v",
        "x^k=v",
        "p^k=v",
        "a^k=v",
        "a^id=v",
        "i^id=v",
    }


vw_safe_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("|: =%_\"'\\,;#éß雪🙂\0"),
        # Line breaks would split VW's readable model, which this test reads line by line; NUL,
        # where VW's JSON parser cuts a string short, is sampled above.
        st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    ),
    min_size=1,
    max_size=60,
)


@given(name=vw_safe_text, value=vw_safe_text)
@settings(max_examples=15, deadline=None, derandomize=True)
def test_vw_sees_any_value_verbatim_as_one_feature(name: str, value: str) -> None:
    features = DecisionFeatures(
        context={}, custom={name: value}, profile={}, actions=[("coat", {}), ("hat", {})]
    )
    key = f"x^{escape_name(name)}={escape_value(value)}"
    # Then the namespace holds that one feature (and its interaction with the chosen action)
    found = learned_feature_names(features)
    assert {n for n in found if n.startswith("x^")} == {key, f"{key}*i^id=coat"}


# --- the logged form -----------------------------------------------------------------------------


@given(features=decision_features)
def test_decision_features_round_trip_through_json(features: DecisionFeatures) -> None:
    assert DecisionFeatures.from_json(features.to_json()) == features


def test_decision_features_json_is_compact_unicode() -> None:
    features = DecisionFeatures({"season": "winter"}, {"r": "雪|:"}, {}, [("coat", {"p": 1.5})])
    text = features.to_json()
    assert "雪|:" in text
    loaded: Any = json.loads(text)
    assert loaded["actions"] == [["coat", {"p": 1.5}]]


def test_vw_keeps_values_apart_that_differ_only_after_a_nul() -> None:
    # Given two values VW's JSON parser would cut short at the NUL, and an action id with one
    features = DecisionFeatures(
        context={}, custom={"k": "x\0y", "j": "x\0z"}, profile={}, actions=[("a\0b", {})]
    )
    found = learned_feature_names(features)
    # Then each is still its own feature, whole
    assert single(found, "x") == {"x^k=x%00y", "x^j=x%00z"}
    assert single(found, "i") == {"i^id=a%00b"}
