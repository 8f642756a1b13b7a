"""Visitor profiles: bounded, decayed aggregates of what a visitor did, on every channel.

A profile is what its interactions add up to, each worth less the older it is (half-life
``half_life_days``): recency, frequency and monetary value, the categories and items looked
at, the channels used, and how often and how lately each action was shown (fatigue). Counts
are kept at one reference instant (``as_of``) and decayed on the way, so the same
interactions make the same profile in any order, and two profiles merge exactly (a linked
anonymous id and a known one). Every part is bounded: the strongest entries are kept.

What decide learns from is ``features``: a few named features in the profile's vocabulary
(strings, numbers, lists), in their own namespace, and ``fatigue`` per action.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from decider.schemas import MAX_CAP

DAY = 86400.0
MAX_TYPES = 16
MAX_CATEGORIES = 16
MAX_CHANNELS = 8
MAX_ITEMS = 10
MAX_SHOWN = 64
# The latest times a visitor was reached on each channel: as many as a frequency cap counts.
MAX_CONTACTS = MAX_CAP
MAX_SHOWN_IDS = 256  # decisions counted as shown, as digests: a stream batch sent again
# Interaction ids are kept as short digests, more than a batch holds (500): a retried batch
# counts once, the profile stays a few kilobytes (what decide's read costs).
MAX_SEEN_IDS = 512
# What a count decays below before it is dropped: about six half-lives of one interaction.
FORGOTTEN = 0.015
# A kind's decayed count is the feature n_<kind>: no shop's own kind can take another's name.
COUNT_PREFIX = "n_"
# A purchase's value counts toward "spend"; these types are "activity" and "interest".
PURCHASE = "purchase"
# How strongly each kind of interaction says "interested in this category".
INTEREST = {
    "view": 1.0,
    "click": 1.0,
    "search": 1.0,
    "email_click": 1.0,
    "wishlist": 2.0,
    "add_to_cart": 3.0,
    "store_visit": 2.0,
    "purchase": 4.0,
}


@dataclass(frozen=True)
class Event:
    """One interaction, as the profile takes it (its visitor already resolved)."""

    type: str
    at: float  # epoch seconds
    item: str | None = None
    category: str | None = None
    channel: str | None = None
    value: float | None = None
    id: str | None = None


@dataclass(frozen=True)
class Profile:
    as_of: float = 0.0
    first_seen: float | None = None
    last_seen: float | None = None
    types: Mapping[str, float] = field(default_factory=dict)
    categories: Mapping[str, float] = field(default_factory=dict)
    channels: Mapping[str, float] = field(default_factory=dict)
    spend: float = 0.0
    purchases: int = 0
    # (item, at, category), newest first
    items: tuple[tuple[str, float, str | None], ...] = ()
    last_channel: tuple[str, float] | None = None
    # "<decision point>/<action>" -> (decayed times shown, last shown at)
    shown: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    seen_ids: tuple[str, ...] = ()
    # channel -> the latest times something was shown there (newest last)
    contacts: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    shown_ids: tuple[str, ...] = ()  # digests of the decisions counted in ``shown``

    @property
    def empty(self) -> bool:
        return self.last_seen is None and not self.shown and not self.contacts

    def contacts_since(self, channel: str, since: float) -> int:
        """How many times the visitor was reached on ``channel`` from ``since`` on."""
        return sum(1 for at in self.contacts.get(channel, ()) if at >= since)


def weight(at: float, as_of: float, half_life_days: float) -> float:
    """What something that happened at ``at`` is worth at ``as_of``."""
    return 2.0 ** (-(as_of - at) / (half_life_days * DAY))


def decayed(profile: Profile, to: float, half_life_days: float) -> Profile:
    """The profile's counts as worth at ``to`` (never earlier than its own reference)."""
    if to <= profile.as_of:
        return profile
    factor = weight(profile.as_of, to, half_life_days)
    shown = {k: (count * factor, last) for k, (count, last) in profile.shown.items()}
    return replace(
        profile,
        as_of=to,
        types=_scaled(profile.types, factor),
        categories=_scaled(profile.categories, factor),
        channels=_scaled(profile.channels, factor),
        spend=profile.spend * factor,
        shown=shown,
    )


def with_events(profile: Profile, events: Iterable[Event], half_life_days: float) -> Profile:
    """The profile after these interactions, in any order; an event whose id it has seen is
    not counted twice."""
    out = profile
    for event in events:
        if event.id is not None and seen_id(event.id) in out.seen_ids:
            continue
        out = _with_event(decayed(out, event.at, half_life_days), event, half_life_days)
    return out


def seen_id(interaction_id: str) -> str:
    """How a profile remembers an interaction id: 64 bits of its SHA-256."""
    return hashlib.sha256(interaction_id.encode()).hexdigest()[:16]


def _with_event(profile: Profile, event: Event, half_life_days: float) -> Profile:
    worth = weight(event.at, profile.as_of, half_life_days)
    types = _top(_added(profile.types, event.type, worth), MAX_TYPES)
    categories = profile.categories
    if event.category:
        interest = worth * INTEREST.get(event.type, 1.0)
        categories = _top(_added(categories, event.category, interest), MAX_CATEGORIES)
    channels, last_channel = profile.channels, profile.last_channel
    if event.channel:
        channels = _top(_added(channels, event.channel, worth), MAX_CHANNELS)
        if last_channel is None or (event.at, event.channel) > (last_channel[1], last_channel[0]):
            last_channel = (event.channel, event.at)
    items = profile.items
    if event.item:
        items = _newest_items((*items, (event.item, event.at, event.category)))
    purchase = event.type == PURCHASE
    seen = profile.seen_ids if event.id is None else (*profile.seen_ids, seen_id(event.id))
    return replace(
        profile,
        first_seen=_min(profile.first_seen, event.at),
        last_seen=_max(profile.last_seen, event.at),
        types=types,
        categories=categories,
        channels=channels,
        last_channel=last_channel,
        items=items,
        spend=profile.spend + (worth * (event.value or 0.0) if purchase else 0.0),
        purchases=profile.purchases + (1 if purchase else 0),
        seen_ids=seen[-MAX_SEEN_IDS:],
    )


@dataclass(frozen=True)
class Shown:
    """An action shown to the visitor: where, when, and (when known) on which channel and by
    which decision (counted once)."""

    decision_point: str
    action: str
    at: float
    channel: str | None = None
    event_id: str | None = None


def with_shown(
    profile: Profile, shown: Iterable[Shown | tuple[Any, ...]], half_life_days: float
) -> Profile:
    """The profile after these actions were shown (``Shown``, or its fields as a tuple): its
    fatigue, and its contacts per channel (what frequency caps count). A decision counted
    before is not counted again."""
    out = profile
    for given in shown:
        entry = given if isinstance(given, Shown) else Shown(*given)
        decision_point, action, at, channel = (
            entry.decision_point, entry.action, entry.at, entry.channel
        )  # fmt: skip
        if entry.event_id is not None:
            digest = seen_id(entry.event_id)
            if digest in out.shown_ids:
                continue
            out = replace(out, shown_ids=(*out.shown_ids, digest)[-MAX_SHOWN_IDS:])
        if channel:
            # A list, not a set: two messages at one instant are two contacts (each
            # decision is counted once, by its event id, above).
            times = sorted([*out.contacts.get(channel, ()), at])[-MAX_CONTACTS:]
            out = replace(out, contacts={**out.contacts, channel: tuple(times)})
        out = decayed(out, at, half_life_days)
        key = f"{decision_point}/{action}"
        count, last = out.shown.get(key, (0.0, at))
        seen = (count + weight(at, out.as_of, half_life_days), max(last, at))
        strongest = sorted({**out.shown, key: seen}.items(), key=lambda kv: (-kv[1][1], kv[0]))
        out = replace(out, shown=dict(strongest[:MAX_SHOWN]))
    return out


def merged(a: Profile, b: Profile, half_life_days: float) -> Profile:
    """One profile from two (an anonymous id's and a known one's): exactly what their
    interactions together would have made."""
    as_of = max(a.as_of, b.as_of)
    a, b = decayed(a, as_of, half_life_days), decayed(b, as_of, half_life_days)
    shown = dict(a.shown)
    for key, (count, last) in b.shown.items():
        mine = shown.get(key)
        shown[key] = (count + mine[0], max(last, mine[1])) if mine else (count, last)
    last_channels = [c for c in (a.last_channel, b.last_channel) if c is not None]
    return Profile(
        as_of=as_of,
        first_seen=_min(a.first_seen, b.first_seen),
        last_seen=_max(a.last_seen, b.last_seen),
        types=_top(_summed(a.types, b.types), MAX_TYPES),
        categories=_top(_summed(a.categories, b.categories), MAX_CATEGORIES),
        channels=_top(_summed(a.channels, b.channels), MAX_CHANNELS),
        spend=a.spend + b.spend,
        purchases=a.purchases + b.purchases,
        items=_newest_items((*a.items, *b.items)),
        last_channel=max(last_channels, key=lambda c: (c[1], c[0])) if last_channels else None,
        shown=dict(sorted(shown.items(), key=lambda kv: (-kv[1][1], kv[0]))[:MAX_SHOWN]),
        seen_ids=tuple(dict.fromkeys((*a.seen_ids, *b.seen_ids)))[-MAX_SEEN_IDS:],
        contacts={
            channel: tuple(
                sorted([*a.contacts.get(channel, ()), *b.contacts.get(channel, ())])[-MAX_CONTACTS:]
            )
            for channel in {*a.contacts, *b.contacts}
        },
        shown_ids=tuple(dict.fromkeys((*a.shown_ids, *b.shown_ids)))[-MAX_SHOWN_IDS:],
    )


def features(profile: Profile, now: float, half_life_days: float) -> dict[str, Any]:
    """What decide learns from: the profile at ``now``, in the profile's vocabulary."""
    if profile.last_seen is None:
        return {}
    p = decayed(profile, now, half_life_days)
    out: dict[str, Any] = {"days_since_seen": _round(max(now - profile.last_seen, 0.0) / DAY)}
    activity = sum(p.types.values())
    if activity >= FORGOTTEN:
        out["activity"] = _round(activity)
    for kind, count in p.types.items():
        if count >= FORGOTTEN:
            out[f"{COUNT_PREFIX}{kind}"] = _round(count)
    if p.spend > 0:
        out["spend"] = _round(p.spend)
    if p.purchases:
        out["orders"] = p.purchases
    total = sum(p.categories.values())
    top = [c for c, n in _ranked(p.categories) if total and n / total >= 0.15][:3]
    if top:
        out["top_categories"] = top
    recent = [item for item, _, _ in p.items[:5]]
    if recent:
        out["recent_items"] = recent
    last_category = next((category for _, _, category in p.items if category), None)
    if last_category:
        out["last_category"] = last_category
    channels = [c for c, n in _ranked(p.channels) if n >= 0.1]
    if channels:
        out["channels"] = channels
    if p.last_channel:
        out["last_channel"] = p.last_channel[0]
    return out


def fatigue(
    profile: Profile,
    decision_point: str,
    actions: Sequence[str],
    now: float,
    half_life_days: float,
) -> list[dict[str, Any]]:
    """Per action, in order: how often (decayed) and how lately it was shown to the visitor."""
    out: list[dict[str, Any]] = []
    for action in actions:
        entry = profile.shown.get(f"{decision_point}/{action}")
        if entry is None:
            out.append({})
            continue
        count, last = entry
        worth = count * weight(profile.as_of, now, half_life_days) if now > profile.as_of else count
        out.append(
            {"times_shown": _round(worth), "hours_since_shown": _round(max(now - last, 0) / 3600)}
        )
    return out


def to_json(profile: Profile) -> str:
    return json.dumps(
        {
            "as_of": profile.as_of,
            "first": profile.first_seen,
            "last": profile.last_seen,
            "types": profile.types,
            "categories": profile.categories,
            "channels": profile.channels,
            "spend": profile.spend,
            "purchases": profile.purchases,
            "items": [list(i) for i in profile.items],
            "last_channel": list(profile.last_channel) if profile.last_channel else None,
            "shown": {k: list(v) for k, v in profile.shown.items()},
            "seen": list(profile.seen_ids),
            "contacts": {k: list(v) for k, v in profile.contacts.items()},
            "shown_ids": list(profile.shown_ids),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def from_json(text: str) -> Profile:
    data = json.loads(text)
    last_channel = data.get("last_channel")
    return Profile(
        as_of=data["as_of"],
        first_seen=data.get("first"),
        last_seen=data.get("last"),
        types=data.get("types", {}),
        categories=data.get("categories", {}),
        channels=data.get("channels", {}),
        spend=data.get("spend", 0.0),
        purchases=data.get("purchases", 0),
        items=tuple((i, at, c) for i, at, c in data.get("items", [])),
        last_channel=(last_channel[0], last_channel[1]) if last_channel else None,
        shown={k: (v[0], v[1]) for k, v in data.get("shown", {}).items()},
        seen_ids=tuple(data.get("seen", [])),
        contacts={k: tuple(v) for k, v in data.get("contacts", {}).items()},
        shown_ids=tuple(data.get("shown_ids", [])),
    )


def _scaled(counts: Mapping[str, float], factor: float) -> dict[str, float]:
    return {k: v * factor for k, v in counts.items() if v * factor >= FORGOTTEN}


def _added(counts: Mapping[str, float], key: str, amount: float) -> dict[str, float]:
    return {**counts, key: counts.get(key, 0.0) + amount}


def _summed(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + value
    return out


def _ranked(counts: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _top(counts: Mapping[str, float], limit: int) -> dict[str, float]:
    return dict(_ranked(counts)[:limit])


def _newest_items(
    items: Iterable[tuple[str, float, str | None]],
) -> tuple[tuple[str, float, str | None], ...]:
    """The newest sighting of each item, newest first, at most MAX_ITEMS."""
    newest: dict[str, tuple[str, float, str | None]] = {}
    for item in items:
        kept = newest.get(item[0])
        if kept is None or (item[1], item[2] or "") > (kept[1], kept[2] or ""):
            newest[item[0]] = item
    return tuple(sorted(newest.values(), key=lambda i: (-i[1], i[0]))[:MAX_ITEMS])


def _round(value: float) -> float:
    return math.floor(value * 100 + 0.5) / 100


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
