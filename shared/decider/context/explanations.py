"""Reasons a visitor can read: the features that raised the chosen action's score most (the
model's own weights, learning.policy.Policy.contributions), said in a sentence built from a
template per family of features. A sentence never names a feature; an exploratory pick is
only ever "something new"."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from decider.schemas import ChoiceKind, Explanation, Factor

MAX_FACTORS = 3
EXPLORATORY = "Something new we think you may like."
BASELINE = "Our featured pick right now."
POPULAR = "Popular with shoppers right now."
NAMESPACES = {"c": "context", "x": "visit", "p": "profile", "ph": "history"}
GENERIC = frozenset({"profile_activity", "profile", "visit"})
_CONTEXT_FAMILIES = {
    "season": "season_place",
    "seasonal_month": "season_place",
    "month": "season_place",
    "hemisphere": "season_place",
    "country": "season_place",
    "region": "season_place",
    "daypart": "time_of_day",
    "weekend": "time_of_day",
    "device": "device",
    "os": "device",
    "browser": "device",
    "channel": "channel",
    "upcoming_holiday": "occasion",
    "days_to_holiday": "occasion",
    "retail_event": "occasion",
}
_HISTORY_FAMILIES = {
    "top_categories": "profile_category",
    "last_category": "profile_category",
    "recent_items": "profile_item",
    "channels": "channel",
    "last_channel": "channel",
}
_WHERE = {
    "web": "on our website",
    "app": "in our app",
    "email": "by email",
    "push": "through notifications",
    "store": "in our store",
    "call_center": "on the phone",
}
_DEVICES = {"mobile": "phone", "tablet": "tablet", "desktop": "computer"}
_MONTHS = {
    "jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May",
    "jun": "June", "jul": "July", "aug": "August", "sep": "September", "oct": "October",
    "nov": "November", "dec": "December",
}  # fmt: skip
_DAYPARTS = {"night": "at night", "morning": "in the morning", "afternoon": "in the afternoon",
             "evening": "in the evening"}  # fmt: skip


def explanation(
    kind: ChoiceKind, contributions: Sequence[tuple[str, str, float]] = ()
) -> Explanation:
    """The explanation of a choice: for the model's best, its strongest factors and a
    sentence from the strongest that a template can say; else what kind of pick it was."""
    if kind == "exploratory":
        return Explanation(kind=kind, reason=EXPLORATORY, factors=[])
    if kind == "baseline":
        return Explanation(kind=kind, reason=BASELINE, factors=[])
    raised = [_factor(ns, key, weight) for ns, key, weight in contributions if weight > 0]
    # The sentence says the strongest specific factor (a category, a place, the season...):
    # how active a visitor is, or the shop's own visit features, are said only when nothing
    # specific raised the choice; a feature every visitor has otherwise speaks for the
    # action's popularity, not for this visitor.
    specific = [f for f in raised if f.family not in GENERIC]
    reason = next((s for s in map(sentence, [*specific, *raised]) if s is not None), POPULAR)
    return Explanation(kind=kind, reason=reason, factors=raised[:MAX_FACTORS])


def _factor(ns: str, key: str, weight: float) -> Factor:
    name, value = _unescaped(key)
    return Factor(
        family=family(ns, name),
        namespace=NAMESPACES.get(ns, ns),
        feature=name,
        value=value,
        weight=round(weight, 6),
    )


def family(ns: str, name: str) -> str:
    if ns == "c":
        return _CONTEXT_FAMILIES.get(name, "visit")
    if ns == "ph":
        return _HISTORY_FAMILIES.get(name, "profile_activity")
    if ns == "p":
        lowered = name.lower()
        return "profile_category" if "categor" in lowered or "interest" in lowered else "profile"
    return "visit"


def sentence(factor: Factor) -> str | None:
    """The factor as a visitor may read it, or None where no template fits it."""
    value = factor.value
    match factor.family:
        case "profile_category" if value:
            verb = "looked at" if factor.namespace == "history" else "like"
            return f"Because you {verb} {_words(value)}."
        case "profile_item":
            return "Because of something you looked at recently."
        case "profile_activity":
            return "Picked for you, from what you have done with us."
        case "profile":
            return "Picked for you, from your profile."
        case "channel" if value in _WHERE:
            if factor.namespace == "history":
                return f"Because you have shopped with us {_WHERE[value]}."
            return f"Picked for shopping {_WHERE[value]}."
        case "season_place":
            return _season_place(factor.feature, value)
        case "time_of_day" if factor.feature == "daypart" and value in _DAYPARTS:
            return f"Often chosen {_DAYPARTS[value]}."
        case "time_of_day" if factor.feature == "weekend":
            return "Popular at the weekend."
        case "device" if factor.feature == "device" and value in _DEVICES:
            return f"Suited to your {_DEVICES[value]}."
        case "device":
            return "Suited to your device."
        case "occasion" if factor.feature in ("upcoming_holiday", "retail_event") and value:
            return f"In time for {_words(value).title()}."
        case "occasion":
            return "In time for the holidays."
    return None


def _season_place(feature: str, value: str | None) -> str | None:
    if feature == "season" and value:
        return "Popular in the tropics now." if value == "tropical" else f"Popular this {value}."
    if feature in ("month", "seasonal_month") and value in _MONTHS:
        return f"Popular in {_MONTHS[value]}."
    if feature in ("country", "region"):
        return "Popular near you."
    return None


def _unescaped(key: str) -> tuple[str, str | None]:
    """A VW feature (featurize's escaping) as the name and value it came from."""
    name, separator, value = key.partition("=")
    return unquote(name), (unquote(value) if separator else None)


def _words(value: str) -> str:
    return value.replace("-", " ").replace("_", " ").strip()
