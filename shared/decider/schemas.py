"""The API's request and response shapes (DESIGN.md §4), one pydantic model each."""

from __future__ import annotations

import math
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

MAX_ACTIONS = 200  # the most any decision point may allow; each allows 50 unless set higher
DEFAULT_MAX_ACTIONS = 50
MAX_FEATURES = 64
MAX_LIST_ITEMS = 64


MAX_MAGNITUDE = 1e12  # VW learns in 32-bit floats; far larger magnitudes overflow its weights
_FEATURE_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "number", "minimum": -MAX_MAGNITUDE, "maximum": MAX_MAGNITUDE},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST_ITEMS},
        {"type": "null"},
    ]
}


def _feature_value(value: Any) -> Any:
    """Strings, finite numbers, booleans, lists of strings, or null; one clear error otherwise."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if abs(value) > MAX_MAGNITUDE or not math.isfinite(value):
            raise ValueError(f"numbers must be finite and within ±{MAX_MAGNITUDE:g}")
        return value
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise ValueError(f"lists hold at most {MAX_LIST_ITEMS} strings")
        if not all(isinstance(item, str) for item in value):
            raise ValueError("lists may hold only strings")
        return [_unicode(item) for item in value]
    raise ValueError("a feature value is a string, a number, a boolean, a list of strings or null")


def _iso_text(value: Any) -> Any:
    # JSON has no dates: a timestamp is ISO 8601 text, never a number read as epoch seconds.
    if not isinstance(value, str | datetime):
        raise ValueError(
            "a timestamp is ISO 8601 text with a UTC offset, e.g. 2026-11-22T10:00:00Z"
        )
    return value


def _plausible(instant: datetime) -> datetime:
    # Far-off years overflow local-time and holiday arithmetic; no visit happens then anyway.
    if not 2000 <= instant.year <= 2100:
        raise ValueError("a timestamp must be between the years 2000 and 2100")
    return instant


# DynamoDB stores numbers of magnitude 1e-130 to 1e126 (and zero); a write outside fails.
# ...and to 38 significant digits, sums included: rewards (within ±1e6) are kept to 9
# decimals, so any number of them adds up within that.
REWARD_DECIMALS = 9
SMALLEST_STORABLE = 10.0**-REWARD_DECIMALS


def storable_reward(value: float) -> float:
    """A reward DynamoDB can store and add up: zero, or at least 1e-9 in magnitude, kept to 9
    decimals (a smaller one would fail the write, or a sum of them; it is refused with a 400
    rather than rounded to 0 behind the caller's back)."""
    if value != 0.0 and abs(value) < SMALLEST_STORABLE:
        raise ValueError("a reward other than 0 must be at least 1e-9 in magnitude")
    return round(value, REWARD_DECIMALS)


def _within_limit(features: dict[str, Any]) -> dict[str, Any]:
    # Each list item is a feature too: it is crossed with every action like any other.
    count = sum(len(v) if isinstance(v, list) else 1 for v in features.values() if v is not None)
    if count > MAX_FEATURES:
        raise ValueError(f"at most {MAX_FEATURES} features, counting each list item")
    return features


def _unicode(text: str) -> str:
    # Lone surrogates cannot be stored or parsed; UnicodeEncodeError is a ValueError: a 400.
    text.encode()
    return text


FeatureName = Annotated[str, Field(min_length=1, max_length=128)]
FeatureValue = Annotated[
    Any, BeforeValidator(_feature_value), WithJsonSchema(_FEATURE_VALUE_SCHEMA)
]
Features = Annotated[
    dict[FeatureName, FeatureValue], Field(max_length=MAX_FEATURES), AfterValidator(_within_limit)
]

# Event ids travel in URL paths (/events/{event_id}/reward), so they are URL-safe.
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~-]+$")]
DecisionPointId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]
ActionId = Annotated[str, Field(min_length=1, max_length=128)]
# A visitor: a known user id, an app install id or an anonymous cookie id. URL-safe enough to
# travel in /users/{user_id}: HTTP APIs decode a path before routing.
VisitorId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^/?#%\s]+$")]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_plausible)]
# A JSON number, as the schema says: lax pydantic would record `false` or "1" as a reward.
RewardValue = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, ge=-1e6, le=1e6),
    AfterValidator(storable_reward),
]
Aggregation = Literal["earliest", "sum", "average", "max"]
# What a visitor allowed: nothing learned (none), the visit's context only (anonymous), all.
ConsentTier = Literal["none", "anonymous", "personal"]
_TIERS = ("none", "anonymous", "personal")


def _tier(value: Any) -> Any:
    # JSON's true and false, as before tiers: personal and none. Not "yes", not 0.
    if value is True or value is False:
        return "personal" if value else "none"
    if isinstance(value, str) and value in _TIERS:
        return value
    raise ValueError("consent is true, false, or one of 'none', 'anonymous', 'personal'")


Consent = Annotated[
    ConsentTier,
    BeforeValidator(_tier),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"enum": list(_TIERS)}]}),
]
# The logged probability of the chosen action: what off-policy learning divides by.
Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1)]
Season = Literal["spring", "summer", "autumn", "winter"]
DeviceType = Literal["mobile", "tablet", "desktop", "bot"]


def _known_timezone(name: str) -> str:
    if name not in _timezones():
        raise ValueError(f"unknown IANA timezone {name!r}")
    return name


@cache
def _timezones() -> set[str]:
    return available_timezones()


# The request of DESIGN.md §4, as the OpenAPI document shows it.
DECIDE_EXAMPLE: dict[str, Any] = {
    "decision_point": "home-hero",
    "context": {
        "timestamp": "2026-11-22T15:00:00Z",
        "geo": {"country": "US", "region": "MA"},
        "device": {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"},
        "channel": "web",
        "features": {"referrer": "newsletter", "cart_items": 2},
    },
    "profile": {"segment": "returning", "interests": ["running", "hiking"]},
    "actions": [
        {"id": "winter-coat", "features": {"category": "outerwear", "price": 129.0}},
        {"id": "sunglasses", "features": {"category": "accessories", "price": 39.0}},
    ],
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Geo(Strict):
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    region: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    lat: Annotated[float, Field(strict=True, ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(strict=True, ge=-180, le=180)] | None = None
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)] | None = None


class Device(Strict):
    type: DeviceType | None = None
    user_agent: Annotated[str, Field(max_length=1024)] | None = None


# Where a visitor meets the shop: one decision point serves them all, and a profile keeps
# what the visitor did on each.
Channel = Literal["web", "app", "email", "push", "store", "call_center", "other"]


class Context(Strict):
    timestamp: Timestamp | None = None
    season: Season | None = None
    geo: Geo | None = None
    device: Device | None = None
    channel: Channel | None = Field(
        default=None,
        description="Where the visitor is: learned like the season (crossed with every action).",
    )
    features: Features = Field(default_factory=dict)


class Action(Strict):
    id: ActionId
    features: Features = Field(default_factory=dict)


def unique_action_ids(actions: list[Action]) -> list[Action]:
    ids = [action.id for action in actions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate action ids: {', '.join(duplicates)}")
    return actions


class DecideRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [DECIDE_EXAMPLE]})

    decision_point: DecisionPointId
    event_id: EventId | None = None
    context: Context = Field(default_factory=Context)
    profile: Features = Field(default_factory=dict)
    user_id: VisitorId | None = Field(
        default=None,
        description="Who the visitor is (a known user id, an app install id or an anonymous "
        "cookie id), with consent personal: stored only as a keyed hash (HMAC), never in clear "
        "and never a feature. Decide learns from the visitor's profile (built by POST "
        "/interactions); DELETE /users/{user_id} erases it all.",
    )
    consent: Consent = Field(
        default="personal",
        description="none (or false): the baseline action, nothing learned; anonymous: "
        "context features only, no profile and no user id kept; personal (or true): all.",
    )
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]
    excluded_actions: Annotated[list[ActionId], Field(max_length=MAX_ACTIONS)] = Field(
        default_factory=list
    )
    defer_activation: StrictBool = False
    baseline: ActionId | None = Field(
        default=None,
        description="The action the shop would show without the bandit (default: the decision "
        "point's baseline_action if allowed, else the first allowed one): served to holdout "
        "traffic, without consent, and in the apprentice and logging_only modes.",
    )
    explain: StrictBool = Field(
        default=False,
        description="Answer, for the chosen action, the features that raised its score most "
        "and a sentence a visitor can read. Not for a visitor without consent.",
    )

    @property
    def tier(self) -> ConsentTier:
        return self.consent

    @field_validator("actions")
    @classmethod
    def _unique_ids(cls, actions: list[Action]) -> list[Action]:
        return unique_action_ids(actions)

    @field_validator("excluded_actions")
    @classmethod
    def _known_and_not_all(cls, excluded: list[str], info: ValidationInfo) -> list[str]:
        ids = {action.id for action in info.data.get("actions", [])}
        if not ids:
            return excluded  # actions failed validation already; that error is reported
        unknown = sorted(set(excluded) - ids)
        if unknown:
            raise ValueError(f"names unknown actions: {', '.join(unknown)}")
        if ids <= set(excluded):
            raise ValueError("every action is excluded; at least one must remain")
        return excluded

    @field_validator("baseline")
    @classmethod
    def _an_allowed_action(cls, baseline: str | None, info: ValidationInfo) -> str | None:
        ids = {action.id for action in info.data.get("actions", [])}
        if baseline is None or not ids:
            return baseline
        if baseline not in ids or baseline in info.data.get("excluded_actions", []):
            raise ValueError(f"{baseline!r} is not one of the allowed actions")
        return baseline

    def allowed_actions(self) -> list[Action]:
        excluded = set(self.excluded_actions)
        return [action for action in self.actions if action.id not in excluded]

    def baseline_index(self, actions: list[Action], default: str | None = None) -> int:
        """Where the baseline action is among ``actions`` (the allowed ones): the one the
        request names, else ``default`` if allowed (the decision point's), else the first."""
        wanted = self.baseline if self.baseline is not None else default
        if wanted is None:
            return 0
        return next((i for i, action in enumerate(actions) if action.id == wanted), 0)


class RankedAction(BaseModel):
    id: str
    probability: float


ChoiceKind = Literal["best", "exploratory", "baseline"]


class Factor(BaseModel):
    """A feature that raised the chosen action's score above the others'."""

    family: str = Field(
        description="profile_category, profile_item, profile_activity, channel, season_place, "
        "time_of_day, device, occasion, profile or visit."
    )
    namespace: str = Field(description="context, visit, profile or history (the profile store).")
    feature: str
    value: str | None = None
    weight: float = Field(description="How much it raised the chosen action's score over the "
                          "others' on average (the model's own weights).")  # fmt: skip


class Explanation(BaseModel):
    kind: ChoiceKind = Field(
        description="best: the model's top choice; exploratory: another, to learn (or no model "
        "yet); baseline: the shop's default (holdout, apprentice or logging-only)."
    )
    reason: str = Field(description="A sentence a visitor can read; never a feature's name.")
    factors: list[Factor] = Field(description="Strongest first; empty unless kind is best.")


class DecideResponse(BaseModel):
    event_id: str
    decision_point: str
    action_id: str
    probability: float
    ranking: list[RankedAction]
    model_version: str | None = Field(description="null while no model has been trained yet")
    context_used: dict[str, str | int | bool]
    exploratory: bool = Field(
        description="Whether the action is an exploratory pick rather than the model's best "
        "(every pick is, while no model is trained; false when the baseline was served)."
    )
    profile_used: bool = Field(
        description="Whether the visitor's stored profile was read and learned from."
    )
    explanation: Explanation | None = Field(
        default=None, description="With explain: true and the visitor's consent."
    )


class RewardRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"value": 1.0, "reward_id": "o-5531"}]}
    )

    value: RewardValue
    reward_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="Idempotency key, e.g. the order id. Without it, a second reward for the "
        "same event is a duplicate.",
    )


MAX_CONVERSIONS = 500
ConversionStatus = Literal["accepted", "duplicate", "late", "unknown", "invalid"]


class Conversion(Strict):
    """One conversion an order system reports: a reward for a logged decision."""

    event_id: Annotated[
        str, Field(min_length=1, max_length=64 + 1 + 128, pattern=r"^[A-Za-z0-9._:~-]+$")
    ] = Field(description="The event id decide answered: <decision_point>:<id>.")
    value: RewardValue
    reward_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="Idempotency key, e.g. the order id: a conversion sent again counts once."
    )
    occurred_at: Timestamp | None = Field(
        default=None,
        description="When it happened (ISO 8601 with an offset); not in the future. Lateness "
        "is judged by arrival: a decision is settled by then.",
    )


class ConversionsRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "conversions": [
                        {"event_id": "home-hero:visit-1001", "value": 1.0, "reward_id": "o-5531",
                         "occurred_at": "2026-11-27T00:41:00Z"}
                    ]
                }
            ]
        }
    )  # fmt: skip

    # Items are validated one by one: one bad item is answered invalid, the rest recorded.
    conversions: list[Any] = Field(min_length=1, max_length=MAX_CONVERSIONS)


class ConversionResult(BaseModel):
    index: int = Field(description="The item's place in the request, from 0.")
    event_id: str | None
    reward_id: str | None
    status: ConversionStatus
    message: str | None = Field(default=None, description="Why an item is unknown or invalid.")


class ConversionsResponse(BaseModel):
    results: list[ConversionResult]
    counts: dict[ConversionStatus, int]


MAX_INTERACTIONS = 500
# The kinds a profile knows the meaning of; a shop may send its own (lower_snake_case).
KNOWN_INTERACTIONS = (
    "view", "click", "search", "wishlist", "add_to_cart", "purchase", "store_visit",
    "email_open", "email_click", "push_open", "call",
)  # fmt: skip
InteractionType = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="One of " + ", ".join(KNOWN_INTERACTIONS) + ", or the shop's own kind "
        "(lower_snake_case); purchase values count as spend.",
    ),
]
Label = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_unicode)]


class Interaction(Strict):
    """Something a visitor did, on any channel: what their profile is built from."""

    visitor: VisitorId = Field(
        description="A known user id, an app install id or an anonymous cookie id (stored only "
        "as a keyed hash)."
    )
    type: InteractionType
    item: Label | None = Field(default=None, description="The product or content, by its id.")
    category: Label | None = None
    channel: Channel | None = None
    at: Timestamp | None = Field(default=None, description="When (default: when received).")
    value: Annotated[float, Field(strict=True, ge=0, le=1e6, allow_inf_nan=False)] | None = Field(
        default=None, description="A purchase's value: counts toward the visitor's spend."
    )
    interaction_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="Idempotency key: sent again (a retried batch), it counts once.",
    )
    consent: Consent = Field(
        default="personal",
        description="Only personal consent builds a profile; other items are skipped.",
    )


class InteractionsRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "interactions": [
                        {"visitor": "cookie-7f3a", "type": "view", "item": "boot-42",
                         "category": "winter-boots", "channel": "web",
                         "at": "2026-12-01T18:02:00Z", "interaction_id": "v-88121"}
                    ]
                }
            ]
        }
    )  # fmt: skip

    interactions: list[Interaction] = Field(min_length=1, max_length=MAX_INTERACTIONS)


class InteractionsResponse(BaseModel):
    recorded: int = Field(description="Interactions added to profiles.")
    duplicate: int = Field(description="Sent before (the same interaction_id): counted once.")
    skipped: int = Field(description="Without personal consent: not stored.")
    visitors: int = Field(description="Profiles updated.")


class LinkRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"anonymous": "cookie-7f3a", "known": "user-1042"}]}
    )

    anonymous: VisitorId = Field(description="A cookie or install id the visitor used.")
    known: VisitorId = Field(description="The id the visitor is known by (after signing in).")

    @model_validator(mode="after")
    def _two_ids(self) -> LinkRequest:
        if self.anonymous == self.known:
            raise ValueError("anonymous and known must be different ids")
        return self


class LinkResponse(BaseModel):
    status: Literal["linked", "already_linked", "relinked"] = Field(
        description="linked: the anonymous id's profile is merged into the known one's, and "
        "the id now reads it; relinked: the id belonged to another person, and now to this one "
        "(what it did before stays with the other)."
    )
    linked_ids: int = Field(description="Ids that now read the known visitor's profile.")


class CampaignInput(Strict):
    key: Annotated[str, Field(min_length=1, max_length=1024)] = Field(
        description="The list's object in the stack's campaigns bucket."
    )
    format: Literal["csv", "jsonl"] = Field(
        description="csv: a header row, then one visitor a row; jsonl: one JSON object a line. "
        "Each row: visitor, and optionally consent, country, region, timezone; every other "
        "column is a context feature of that visitor's decision."
    )


MAX_CAP = 32  # the most contacts a frequency cap counts (a profile keeps that many a channel)


class FrequencyCap(Strict):
    most: Annotated[int, Field(strict=True, ge=1, le=MAX_CAP)] = Field(
        description="At most this many messages on the campaign's channel..."
    )
    days: Annotated[float, Field(strict=True, gt=0, le=365)] = Field(
        description="...in this many days (counted from decisions shown, whatever sent them)."
    )


class CampaignJob(Strict):
    """A batch decision for a mailing list or a push campaign: the state machine's input."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": "winter-letter-2026-12",
                    "decision_point": "email-offer",
                    "channel": "email",
                    "input": {"key": "lists/winter.csv", "format": "csv"},
                    "actions": [{"id": "boots-sale", "features": {"category": "winter-boots"}}],
                    "cap": {"most": 2, "days": 7},
                }
            ]
        }
    )  # fmt: skip

    campaign_id: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    decision_point: DecisionPointId
    channel: Channel
    input: CampaignInput
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]
    context: Context = Field(
        default_factory=Context, description="The campaign's context: every row's, its own added."
    )
    cap: FrequencyCap | None = Field(
        default=None, description="A visitor reached this often on the channel gets no message."
    )

    @field_validator("actions")
    @classmethod
    def _unique_ids(cls, actions: list[Action]) -> list[Action]:
        return unique_action_ids(actions)


CampaignRowStatus = Literal["decided", "already_decided", "capped", "invalid"]


class CampaignDecision(BaseModel):
    """One row's outcome, as the job writes it (JSON Lines)."""

    row: int = Field(description="The row's place in the input file, from 0.")
    visitor: str | None
    status: CampaignRowStatus
    event_id: str | None = Field(default=None, description="Reward it: POST /events/{id}/reward.")
    action_id: str | None = None
    probability: float | None = None
    exploratory: bool | None = None
    message: str | None = None


class CampaignBatchResult(BaseModel):
    key: str = Field(description="The object its decisions were written to.")
    counts: dict[CampaignRowStatus, int]


class RewardResponse(BaseModel):
    event_id: str
    status: Literal["recorded", "duplicate", "late"]


class ActivateResponse(BaseModel):
    event_id: str
    status: Literal["activated", "already_active"]


class SquareCB(Strict):
    """SquareCB (Foster and Rakhlin): explores in proportion to how far each action's predicted
    reward is from the best one's; greedier as ``gamma_scale * t ** gamma_exponent`` grows."""

    algorithm: Literal["squarecb"]
    gamma_scale: Annotated[float, Field(strict=True, gt=0, le=10_000)] = 50.0
    gamma_exponent: Annotated[float, Field(strict=True, ge=0, le=1)] = 0.5

    def vw_args(self) -> list[str]:
        args = ["--squarecb", "--gamma_scale", _number(self.gamma_scale)]
        if self.gamma_exponent != 0.5:  # VW's own default, left out so the lineage is the same
            args += ["--gamma_exponent", _number(self.gamma_exponent)]
        return args


class EpsilonGreedy(Strict):
    """Epsilon-greedy, as Azure Personalizer explored: the best action, and a share
    ``epsilon`` of decisions spread evenly over all actions."""

    algorithm: Literal["epsilon_greedy"]
    epsilon: Annotated[float, Field(strict=True, ge=0, le=1)] = 0.2

    def vw_args(self) -> list[str]:
        return ["--epsilon", _number(self.epsilon)]


Exploration = Annotated[SquareCB | EpsilonGreedy, Field(discriminator="algorithm")]


def _number(value: float) -> str:
    return f"{value:g}"


LearningMode = Literal["online", "apprentice", "logging_only"]
RangeEnd = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, ge=-1e6, le=1e6),
    AfterValidator(storable_reward),
]


class RewardRange(Strict):
    """The rewards a decision point takes; a reward outside is refused with a 400."""

    low: RangeEnd
    high: RangeEnd

    @model_validator(mode="after")
    def _ordered(self) -> RewardRange:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class GraduateWhen(Strict):
    """When an apprentice decision point goes online by itself. Checked by each retrain on
    the newest apprentice decisions that had a model to ask (at most 1,000): how often the
    model's top choice was the baseline, and what the model would have earned against what the
    baseline did, every disagreement counted at the worst reward seen (on decisions where only
    the baseline was served, nothing shows what another action would have earned)."""

    min_decisions: Annotated[int, Field(strict=True, ge=100, le=1000)] = Field(
        default=1000, description="Apprentice decisions the check needs, the newest first."
    )
    min_agreement: Annotated[float, Field(strict=True, ge=0, le=1)] = Field(
        default=0.8,
        description="Share of them on which the model's top choice was the baseline "
        "(Personalizer advised 0.6-0.8).",
    )
    tolerance: Annotated[float, Field(strict=True, ge=0, le=1e6)] = Field(
        default=0.01,
        description="How far below the baseline's reward the low end of the 95% interval of "
        "the model's difference from it may reach.",
    )


class DecisionPointSettings(Strict):
    """What an operator sets per decision point (PUT /decision-points/{decision_point}).
    A setting left out takes the stack's default (the template's parameters)."""

    exploration: Exploration | None = Field(
        default=None,
        description="How it explores: squarecb (gamma_scale, gamma_exponent) or epsilon_greedy "
        "(epsilon). A change trains a new model from the next retrain on (a new lineage).",
    )
    default_reward: Annotated[float, Field(strict=True, ge=-1e6, le=1e6)] | None = Field(
        default=None, description="What a decision that got no reward in time is learned as."
    )
    reward_wait_seconds: Annotated[int, Field(strict=True, ge=1, le=30 * 86400)] | None = Field(
        default=None,
        description="How long after a decision its rewards are learned; a later one is late "
        "(stored, not learned). For decisions made after the change.",
    )
    reward_aggregation: Aggregation | None = Field(
        default=None,
        description="With several rewards for one decision (distinct reward_ids): learn the "
        "earliest, their sum, their average or the largest. For decisions made after the "
        "change.",
    )
    reward_range: RewardRange | None = Field(
        default=None,
        description="The rewards it takes: one outside is refused with a 400 (the stack's "
        "range is -1e6 to 1e6). For decisions made after the change. Rewards are learned "
        "divided by the range's largest magnitude, so a margin in euros learns as well as a "
        "conversion; estimates and reports stay in the reward's own unit.",
    )
    reward_unit: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="What a reward counts, as reports show it: conversion, EUR margin, "
        "retained revenue... (a label; rewards are sent as numbers in it).",
        examples=["EUR margin"],
    )
    retention_days: Annotated[int, Field(strict=True, ge=1, le=3650)] | None = Field(
        default=None, description="How long decisions are kept (DynamoDB TTL)."
    )
    promotion_rule: Literal["always", "if_not_worse"] | None = Field(
        default=None,
        description="always: every trained version serves. if_not_worse: only one whose 95% "
        "interval's low end, on the decisions it was scored on, is not below the serving "
        "version's estimate there minus promotion_tolerance; another is kept as rejected.",
    )
    promotion_tolerance: Annotated[float, Field(strict=True, ge=0, le=1e6)] | None = Field(
        default=None, description="How much worse than the serving version if_not_worse allows."
    )
    learning_mode: LearningMode | None = Field(
        default=None,
        description="online: the model decides and learns. apprentice: every decision gets "
        "the baseline action, which the model learns from, and the model's own top choice is "
        "logged beside it to measure how often it agrees. logging_only: every decision gets the "
        "baseline action and is logged; nothing is learned.",
    )
    baseline_action: ActionId | None = Field(
        default=None,
        description="The baseline (what the shop would show without the bandit) of a request "
        "that names none, when it is among the request's allowed actions; else the first "
        "allowed action.",
    )
    graduate_when: GraduateWhen | None = Field(
        default=None,
        description="In apprentice mode: when retrain switches the decision point to online "
        "by itself. Left out, an apprentice decision point stays one until an operator "
        "switches it.",
    )
    holdout_share: Annotated[float, Field(strict=True, ge=0, le=0.5)] | None = Field(
        default=None,
        description="The share of traffic that always gets the baseline action, chosen by a "
        "stable hash of the visitor (user_id) or else of the event: logged, flagged, never "
        "learned; it measures the bandit's lift online.",
    )
    max_actions: Annotated[int, Field(strict=True, ge=1, le=MAX_ACTIONS)] = Field(
        default=DEFAULT_MAX_ACTIONS,
        description=f"Most actions a decide request may carry (default {DEFAULT_MAX_ACTIONS}).",
    )


class StackExploration(BaseModel):
    """Exploration set by the stack's ExplorationArgs parameter in a form the API cannot set."""

    algorithm: Literal["vw"]
    args: str


class EffectiveSettings(BaseModel):
    """Every setting in force for a decision point: its own, and the stack's defaults."""

    exploration: SquareCB | EpsilonGreedy | StackExploration
    default_reward: float
    reward_wait_seconds: int
    reward_aggregation: Aggregation
    reward_range: RewardRange
    reward_unit: str = Field(description="What a reward counts (default: conversion).")
    retention_days: int
    promotion_rule: Literal["always", "if_not_worse"]
    promotion_tolerance: float
    learning_mode: LearningMode
    baseline_action: str | None
    graduate_when: GraduateWhen | None
    holdout_share: float
    max_actions: int


class SettingsChange(BaseModel):
    """One change of a decision point's settings."""

    at: datetime
    principal: str = Field(description="Who changed them: the IAM principal's ARN")
    changes: dict[str, Any] = Field(
        description="Each setting that changed in force: {from, to}",
    )
    new_lineage: bool = Field(description="Whether it starts a new model at the next retrain")


class DecisionPoint(BaseModel):
    """A decision point's settings: what it set, what is in force, and how they changed."""

    decision_point: str
    settings: DecisionPointSettings = Field(description="What this decision point sets itself")
    effective: EffectiveSettings = Field(description="What is in force, defaults included")
    serving_version: int | None = Field(description="The model version decide serves")
    history: list[SettingsChange] = Field(description="Changes, newest first (at most 50)")
    new_lineage: bool | None = Field(
        default=None,
        description="In a PUT's answer: whether the change starts a new model lineage (VW "
        "cannot continue a model under other exploration): the serving version keeps serving "
        "until the next retrain trains a new one from the decisions not yet learned.",
    )


class Realized(BaseModel):
    n: int = Field(description="Settled decisions this version served")
    mean: float | None = Field(default=None, description="Their mean reward")
    low: float | None = Field(default=None, description="95% interval of the mean")
    high: float | None = None


class ModelVersionSummary(BaseModel):
    """One trained version: what it learned, what it was expected to earn, what it earned."""

    version: int
    current: bool = Field(description="Whether decide serves this version now")
    trained_at: datetime
    window_start: datetime | None = Field(description="Learned decisions made after this…")
    watermark: datetime = Field(description="…and up to this")
    decisions_learned: int
    tuning: str = Field(description="The VW arguments it was trained with")
    expected: dict[str, Any] = Field(
        description="Off-policy estimates on held-out decisions it had not learned: for the "
        "candidate (this version), the version serving then, uniform random and the baseline "
        "action, each as value with its 95% interval low-high (empirical likelihood) over n "
        "decisions, and the ips, snips and dr point estimates; and the logged "
        "policy's mean reward on them."
    )
    realized: Realized = Field(description="What it earned while it served")
    rejected: str | None = Field(
        default=None, description="Why the promotion rule kept it from serving, if it did"
    )


class ModelHistory(BaseModel):
    decision_point: str
    versions: list[ModelVersionSummary] = Field(description="Newest first")


class Lift(BaseModel):
    """A difference of reward per decision, the bandit's over the baseline's, with its 95%
    interval."""

    value: float
    low: float
    high: float
    n: int = Field(description="Decisions it rests on")


class ReportDay(BaseModel):
    day: date
    decisions: int = Field(description="Decisions logged that day")
    model: Realized = Field(
        description="Reward per decision of model traffic (online, with consent, not holdout), "
        "over the decisions past the reward wait"
    )
    holdout: Realized = Field(description="Reward per decision of holdout traffic, likewise")
    exploratory_share: float | None = Field(
        description="Share of model decisions where it showed something other than its best "
        "guess, to learn"
    )
    apprentice_agreement: float | None = Field(
        description="In apprentice mode: share of decisions where the model's top choice was "
        "the baseline"
    )


class ReportWeek(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W48")
    measured_lift: Lift | None = Field(
        description="Model traffic's reward per decision minus the holdout's, as served"
    )
    predicted_lift: Lift | None = Field(
        description="The lift over the baseline that the off-policy estimates of the versions "
        "serving that week predicted (paired on their held-out decisions), weighted by the "
        "decisions each served"
    )
    served_by: dict[str, int] = Field(description="Model decisions per serving version")


class DecisionPointReport(BaseModel):
    """How a decision point's learning went, per day and per week."""

    decision_point: str
    since: datetime = Field(description="The report covers decisions made from here…")
    until: datetime = Field(description="…to here; rewards count for those past the reward wait")
    complete: bool = Field(
        description="False if the period held more decisions than a report reads; it then "
        "covers the oldest ones"
    )
    effective: EffectiveSettings
    days: list[ReportDay] = Field(description="Oldest first; days without decisions left out")
    weeks: list[ReportWeek] = Field(description="Oldest first")
    versions: list[ModelVersionSummary] = Field(description="Newest first")
    settings_changes: list[SettingsChange] = Field(description="Newest first")


class LineError(BaseModel):
    line: int = Field(description="The line (for CSV, the row's first line) of the file, from 1.")
    message: str
    field: str | None = Field(
        default=None, description="Where on the line: a DSJSON path or a CSV column."
    )


class ErrorBody(BaseModel):
    code: str = Field(
        description="What went wrong, for programs: invalid_request, malformed_json, "
        "unsupported_media_type, payload_too_large, unknown_event, duplicate_event, not_found, "
        "unknown_decision_point, invalid_history, already_trained."
    )
    message: str = Field(description="What went wrong, for people.")
    field: str | None = Field(
        default=None, description="The request field at fault, dotted: context.geo.timezone."
    )
    lines: list[LineError] | None = Field(
        default=None,
        description="For a history import: each line at fault (at most 100, in file order).",
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class RetrainReport(BaseModel):
    decision_point: str
    status: Literal[
        "trained", "rejected", "nothing_to_learn", "not_settled", "failed", "deferred"
    ] = Field(
        description="deferred: the run's time ran out before this decision point's turn; it "
        "goes first next run."
    )
    model_version: str | None
    window_start: datetime | None
    window_end: datetime
    decisions_seen: int
    decisions_learned: int
    graduated: bool = Field(
        default=False, description="Whether graduate_when switched it from apprentice to online."
    )
    backlog: bool = Field(
        default=False,
        description="Whether settled decisions were left for another run (the window was cut "
        "at a run's limit): the same retrain goes on with them while its time lasts.",
    )
    evaluation: dict[str, Any] = Field(
        default_factory=dict,
        description="Off-policy estimates (value, low, high: 95% empirical-likelihood interval; "
        "n; ips, snips, dr point estimates) of the candidate, "
        "the serving model, uniform random and the baseline action on held-out decisions.",
    )


HISTORY_EXAMPLE: dict[str, Any] = {
    "format": "csv",
    "content": "event_id,timestamp,action,probability,reward,context.weather\n"
    "v-1,2025-01-05T09:30:00Z,winter-coat,0.5,1,snowy\n"
    "v-2,2025-01-05T09:31:00Z,sunglasses,0.5,0,snowy\n",
}


class HistoryImport(Strict):
    """Logged decisions to seed a new decision point with (POST .../history)."""

    model_config = ConfigDict(json_schema_extra={"examples": [HISTORY_EXAMPLE]})

    format: Literal["dsjson", "csv"] = Field(
        description="dsjson: VW's decision-service JSON, one decision a line (Azure "
        "Personalizer's exported logs); csv: a header row, then one decision a row."
    )
    content: str = Field(min_length=1, description="The file's text.")
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)] | None = Field(
        default=None,
        description="CSV only: every row's candidate actions, with their features. Without "
        "it, the candidates are every action id of the file's action column.",
    )
    event_ids: Literal["keep", "new"] = Field(
        default="keep",
        description="keep: the file's event ids (rewards sent later find them). new: an id "
        "of its own for each decision, made from the decision point and the file's id, to "
        "replay a log exported from another decision point of this stack.",
    )

    @field_validator("actions")
    @classmethod
    def _unique_ids(cls, actions: list[Action] | None) -> list[Action] | None:
        return None if actions is None else unique_action_ids(actions)


class ImportReport(BaseModel):
    decision_point: str
    format: Literal["dsjson", "csv"]
    decisions: int = Field(description="Decisions in the file.")
    imported: int = Field(description="Decisions written now.")
    already_present: int = Field(
        description="Decisions whose event id this decision point had logged already (a "
        "repeated import): left as they were."
    )
    not_activated: int = Field(
        description="Decisions logged as never shown (DSJSON _skipLearn, or a deferred action "
        "never activated): imported, never learned."
    )
    skipped_lines: int = Field(
        description="Lines that hold no decision: a DSJSON reward without its decision, or a "
        "checkpoint line."
    )
    first_decided_at: datetime
    last_decided_at: datetime


class UserDecision(BaseModel):
    """One decision made for a person, as stored."""

    event_id: str
    decision_point: str
    decided_at: datetime
    consent: ConsentTier
    context: dict[str, Any] = Field(description="The visit's context as derived and learned.")
    features: dict[str, Any] = Field(description="The shop's own context features.")
    profile: dict[str, Any]
    actions: list[str]
    shown: str = Field(description="The action shown.")
    probability: float
    reward: float | None


class UserExport(BaseModel):
    decisions: list[UserDecision] = Field(description="Oldest first.")
    profile: dict[str, Any] = Field(
        default_factory=dict,
        description="Their profile as decide reads it now (empty without one).",
    )
    linked_ids: int = Field(default=0, description="Other ids (cookies, app installs) linked.")


class UserErased(BaseModel):
    decisions_deleted: int = Field(description="Decisions deleted, with their rewards.")
    profiles_deleted: int = Field(
        default=0, description="Profiles and links deleted: the person's and every id linked."
    )
