"""Settings: read from the environment once at cold start, then passed down as plain models."""

from __future__ import annotations

import shlex
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from decider.schemas import (
    Aggregation,
    DecisionPointId,
    DecisionPointSettings,
    EffectiveSettings,
    EpsilonGreedy,
    LearningMode,
    RewardRange,
    SquareCB,
    StackExploration,
    storable_reward,
)

# Only exploration options may come from settings; anything else (files, learners) is refused.
_EXPLORATION_FLAGS = {
    "--epsilon": 1,
    "--first": 1,
    "--bag": 1,
    "--cover": 1,
    "--psi": 1,
    "--nounif": 0,
    "--softmax": 0,
    "--lambda": 1,
    "--squarecb": 0,
    "--gamma_scale": 1,
    "--gamma_exponent": 1,
    "--regcb": 0,
    "--regcbopt": 0,
    "--mellowness": 1,
    "--first_only": 0,
    "--synthcover": 0,
    "--synthcoverpsi": 1,
    "--synthcoversize": 1,
    "--cb_type": 1,
}


def exploration_args(text: str) -> list[str]:
    """Parse and check exploration arguments such as ``--epsilon 0.2``."""
    words = shlex.split(text)
    position = 0
    while position < len(words):
        flag = words[position]
        if flag not in _EXPLORATION_FLAGS:
            raise ValueError(f"not an exploration argument: {flag!r}")
        arity = _EXPLORATION_FLAGS[flag]
        # A missing value must not swallow the next flag: VW would only fail later, at load.
        if arity and (position + 1 >= len(words) or words[position + 1].startswith("--")):
            raise ValueError(f"{flag!r} needs a value")
        position += 1 + arity
    return words


def without_exploration(args: list[str]) -> list[str]:
    """VW arguments with every exploration option (and its value) taken out."""
    kept: list[str] = []
    position = 0
    while position < len(args):
        arity = _EXPLORATION_FLAGS.get(args[position])
        if arity is None:
            kept.append(args[position])
            position += 1
        else:
            position += 1 + arity
    return kept


# Recorded in a model's lineage after its VW arguments (and taken out before VW sees them).
REWARD_SCALE_FLAG = "--reward_scale"


# SquareCB, greedier than VW's default gamma scale of 10 (docs/benchmarks.md).
DEFAULT_EXPLORATION = ("--squarecb", "--gamma_scale", "50")


class LoopSettings(BaseModel):
    """How one decision point's learning loop behaves."""

    reward_wait: timedelta
    default_reward: float = 0.0
    aggregation: Aggregation = "earliest"
    reward_range: tuple[float, float] = (-1.0, 1.0)
    exploration: list[str] = Field(default_factory=lambda: list(DEFAULT_EXPLORATION))
    retention: timedelta = timedelta(days=30)
    # How retrain learns, chosen by the learning benchmark (docs/benchmarks.md), not settable
    # by callers: VW's learning arguments, passes over each new window, and the window's most
    # recent share held out to score the candidate on decisions it has not learned.
    learner: list[str] = Field(default_factory=lambda: ["--coin"])
    passes: Annotated[int, Field(ge=1, le=10)] = 3
    scored_share: Annotated[float, Field(ge=0, lt=1)] = 0.2
    promotion_rule: Literal["always", "if_not_worse"] = "always"
    promotion_tolerance: Annotated[float, Field(ge=0)] = 0.0
    learning_mode: LearningMode = "online"
    holdout_share: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # of traffic, served the baseline
    # Rewards learned divided by the largest magnitude of the reward range (reward_scale)
    scale_rewards: bool = True

    @property
    def tuning(self) -> list[str]:
        """The VW arguments a model is trained with: it can only be continued under them."""
        return [*self.exploration, *self.learner]

    @property
    def reward_scale(self) -> float:
        """What rewards are divided by before VW learns them: the largest magnitude of the
        reward range (1 for the default -1 to 1), so that a margin in euros is learned on the
        scale a conversion is, which VW's learning rates and SquareCB's exploration are tuned
        for. Estimates and reports stay in the reward's own unit."""
        if not self.scale_rewards:
            return 1.0
        largest = max(abs(self.reward_range[0]), abs(self.reward_range[1]))
        return largest if largest > 0 else 1.0

    @property
    def lineage(self) -> str:
        """What a model version records as its lineage: its VW arguments and, when rewards
        are scaled, the scale (a model learned on one scale is not continued on another)."""
        scale = self.reward_scale
        suffix = f" {REWARD_SCALE_FLAG} {scale:g}" if scale != 1.0 else ""
        return " ".join(self.tuning) + suffix

    def for_decision_point(self, settings: DecisionPointSettings) -> LoopSettings:
        """These (the stack's) settings with what a decision point sets itself in their place."""
        changed: dict[str, object] = {}
        if settings.exploration is not None:
            changed["exploration"] = settings.exploration.vw_args()
        if settings.default_reward is not None:
            changed["default_reward"] = settings.default_reward
        if settings.reward_wait_seconds is not None:
            changed["reward_wait"] = timedelta(seconds=settings.reward_wait_seconds)
        if settings.reward_aggregation is not None:
            changed["aggregation"] = settings.reward_aggregation
        if settings.reward_range is not None:
            changed["reward_range"] = (settings.reward_range.low, settings.reward_range.high)
        if settings.retention_days is not None:
            changed["retention"] = timedelta(days=settings.retention_days)
        if settings.promotion_rule is not None:
            changed["promotion_rule"] = settings.promotion_rule
        if settings.promotion_tolerance is not None:
            changed["promotion_tolerance"] = settings.promotion_tolerance
        if settings.learning_mode is not None:
            changed["learning_mode"] = settings.learning_mode
        if settings.holdout_share is not None:
            changed["holdout_share"] = settings.holdout_share
        return self.model_copy(update=changed) if changed else self

    def effective(self, settings: DecisionPointSettings) -> EffectiveSettings:
        """Every setting in force for a decision point, as the admin API shows them."""
        loop = self.for_decision_point(settings)
        return EffectiveSettings(
            exploration=settings.exploration or exploration_of(loop.exploration),
            default_reward=loop.default_reward,
            reward_wait_seconds=int(loop.reward_wait.total_seconds()),
            reward_aggregation=loop.aggregation,
            reward_range=RewardRange(low=loop.reward_range[0], high=loop.reward_range[1]),
            reward_unit=settings.reward_unit or "conversion",
            retention_days=loop.retention.days,
            promotion_rule=loop.promotion_rule,
            promotion_tolerance=loop.promotion_tolerance,
            learning_mode=loop.learning_mode,
            baseline_action=settings.baseline_action,
            graduate_when=settings.graduate_when,
            holdout_share=loop.holdout_share,
            max_actions=settings.max_actions,
        )


def exploration_of(args: list[str]) -> SquareCB | EpsilonGreedy | StackExploration:
    """VW exploration arguments in the API's structured form, when they have one."""
    words = list(args)
    try:
        if words[:1] == ["--squarecb"]:
            values = dict(zip(words[1::2], words[2::2], strict=True))
            if set(values) <= {"--gamma_scale", "--gamma_exponent"}:
                return SquareCB(
                    algorithm="squarecb",
                    gamma_scale=float(values.get("--gamma_scale", 10.0)),  # VW's default
                    gamma_exponent=float(values.get("--gamma_exponent", 0.5)),
                )
        if len(words) == 2 and words[0] == "--epsilon":
            return EpsilonGreedy(algorithm="epsilon_greedy", epsilon=float(words[1]))
    except ValueError:
        pass
    return StackExploration(algorithm="vw", args=" ".join(words))


# As a decision point's reward range, read from text (so not strict).
RewardBound = Annotated[
    float, Field(ge=-1e6, le=1e6, allow_inf_nan=False), AfterValidator(storable_reward)
]


def _checked_exploration(text: str) -> str:
    exploration_args(text)
    return text


class StackSettings(BaseSettings):
    """What every function reads from the variables template.yaml sets."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    decisions_table: str
    decisions_by_time_index: str = "by-shard-time"
    decisions_by_user_index: str = "by-user"
    user_hash_secret: str  # the keys visitors' ids are hashed with
    # Publishable keys the shop's pages send with decide and activate (comma-separated; none:
    # not required). Not secrets: they name the shop's pages.
    publishable_keys: str = ""

    @property
    def client_keys(self) -> list[str]:
        return [key.strip() for key in self.publishable_keys.split(",") if key.strip()]

    models_table: str
    models_bucket: str
    # Visitors' profiles, built from interactions (decider.loop.interactions).
    profiles_table: str
    profile_half_life_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    profile_retention_days: Annotated[int, Field(gt=0)] = 365
    reward_wait_seconds: Annotated[int, Field(gt=0)]
    default_reward: float = 0.0
    reward_aggregation: Aggregation = "earliest"
    reward_min: RewardBound = -1.0
    reward_max: RewardBound = 1.0
    exploration_args: Annotated[str, AfterValidator(_checked_exploration)] = " ".join(
        DEFAULT_EXPLORATION
    )
    retention_days: Annotated[int, Field(gt=0)] = 30
    promotion_rule: Literal["always", "if_not_worse"] = "always"
    promotion_tolerance: Annotated[float, Field(ge=0)] = 0.0
    learning_mode: LearningMode = "online"
    holdout_share: Annotated[float, Field(ge=0, le=0.5)] = 0.0

    @model_validator(mode="after")
    def _reward_range(self) -> StackSettings:
        if self.reward_min >= self.reward_max:
            raise ValueError("REWARD_MIN must be below REWARD_MAX")
        if not self.reward_min <= self.default_reward <= self.reward_max:
            raise ValueError("DEFAULT_REWARD must be within REWARD_MIN to REWARD_MAX")
        return self

    def loop(self) -> LoopSettings:
        return LoopSettings(
            reward_wait=timedelta(seconds=self.reward_wait_seconds),
            default_reward=self.default_reward,
            aggregation=self.reward_aggregation,
            reward_range=(self.reward_min, self.reward_max),
            exploration=exploration_args(self.exploration_args),
            retention=timedelta(days=self.retention_days),
            promotion_rule=self.promotion_rule,
            promotion_tolerance=self.promotion_tolerance,
            learning_mode=self.learning_mode,
            holdout_share=self.holdout_share,
        )


class DecideSettings(StackSettings):
    model_refresh_seconds: Annotated[float, Field(ge=0)] = 5.0
    # How many decision points decide creates on first use (0: only an operator creates them).
    auto_create_decision_points: Annotated[int, Field(ge=0)] = 0


class RewardSettings(StackSettings):
    pass


class CampaignSettings(DecideSettings):
    campaigns_bucket: str  # lists in, decisions out (campaigns/<id>/decisions/)


class InteractionsSettings(StackSettings):
    keys_secret: str  # the server keys' hashes: POST /interactions checks them itself


class PersonalizerSettings(DecideSettings):
    """Personalizer has one loop per resource: its routes decide for this decision point."""

    personalizer_decision_point: DecisionPointId
    # Personalizer's IsInferenceExplainabilityEnabled: rank answers inferenceExplanation.
    personalizer_explanations: bool = False


class RetrainSettings(StackSettings):
    pass


class AdminSettings(StackSettings):
    pass


class ExportSettings(StackSettings):
    exports_bucket: str


class AuthorizerSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    keys_secret: str
