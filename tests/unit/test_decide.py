"""Decide with in-memory stores: the ranking, reproducibility, privacy, and model refresh."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from decider.errors import DuplicateEvent, UnknownDecisionPoint
from decider.learning.featurize import Label, features_of
from decider.learning.model_cache import ModelCache
from decider.learning.policy import Policy
from decider.loop.decide import Decider
from decider.records import CurrentModel, ModelVersion
from decider.schemas import (
    DecideRequest,
    DecideResponse,
    DecisionPointSettings,
    SettingsChange,
)
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DP = "home-hero"
EXPLORATION = ["--epsilon", "0.2"]
LOOP = LoopSettings(reward_wait=timedelta(hours=1), exploration=EXPLORATION)
ACTIONS = ["winter-coat", "sunglasses", "umbrella", "scarf"]


def request(**fields: Any) -> DecideRequest:
    return DecideRequest.model_validate(
        {
            "decision_point": DP,
            "context": {"season": "winter", "geo": {"country": "US"}},
            "profile": {"segment": "returning", "interests": ["running"]},
            "actions": [{"id": a, "features": {"category": a}} for a in ACTIONS],
            **fields,
        }
    )


class Ticker:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class CountingRegistry(MemoryRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.broken = False

    def current(self, decision_point: str) -> CurrentModel | None:
        self.reads += 1
        if self.broken:
            raise ConnectionError("DynamoDB is unreachable")
        return super().current(decision_point)


class World:
    def __init__(self, refresh_seconds: float = 5.0) -> None:
        self.log = MemoryDecisionLog()
        self.store = MemoryModelStore()
        self.registry = CountingRegistry()
        self.ticker = Ticker()
        self.models = ModelCache(
            self.registry, self.store, EXPLORATION, refresh_seconds, clock=self.ticker
        )
        self.decider = self.new_decider(self.log)

    def new_decider(self, log: MemoryDecisionLog) -> Decider:
        serial = iter(range(1_000_000))
        return Decider(
            models=self.models,
            log=log,
            loop=LOOP,
            now=lambda: NOW,
            new_event_id=lambda: f"generated-{next(serial)}",
        )

    def decide(self, **fields: Any) -> DecideResponse:
        return self.decider.decide(request(**fields))

    def promote(self, blob: bytes, sha256: str | None = None) -> int:
        current = self.registry.pointers.get(DP)
        expected = current.version if current else None
        version = (expected or 0) + 1
        self.registry.promote(
            ModelVersion(
                DP,
                version,
                self.store.put(DP, version, blob),
                sha256 or hashlib.sha256(blob).hexdigest(),
                None,
                NOW,
                NOW,
                1,
                "{}",
            ),
            expected_version=expected,
        )
        return version


def policy_preferring(index: int) -> Policy:
    """A model that learned that the action at ``index`` converts and the others do not."""
    features = features_of(request(), {"season": "winter"}, request().actions)
    policy = Policy(EXPLORATION)
    for _ in range(20):
        for action in range(len(ACTIONS)):
            cost = -1.0 if action == index else 0.0
            policy.learn(features, Label(action, cost, 1 / len(ACTIONS)))
    return policy


def served_pmf(world: World) -> list[float]:
    served = world.models.model(DP, NOW)
    assert served.policy is not None
    features = features_of(request(), {"season": "winter"}, request().actions)
    return served.policy.pmf(features)


# --- ranking -------------------------------------------------------------------------------------


def test_without_a_model_the_choice_is_uniform_over_the_allowed_actions() -> None:
    world = World()
    response = world.decide(event_id="e-1", excluded_actions=["sunglasses"])
    # Then every allowed action, and only those, is ranked with the same probability
    assert sorted(r.id for r in response.ranking) == ["scarf", "umbrella", "winter-coat"]
    assert [r.probability for r in response.ranking] == pytest.approx([1 / 3] * 3)
    assert sum(r.probability for r in response.ranking) == pytest.approx(1.0)
    assert response.action_id != "sunglasses"
    assert (response.probability, response.model_version) == (pytest.approx(1 / 3), None)
    # And the log holds the decision as made, without the excluded action
    record = world.log.records[f"{DP}:e-1"]
    assert [a for a, _ in record.features.actions] == ["winter-coat", "umbrella", "scarf"]
    assert record.chosen_action == response.action_id
    assert record.probability == response.probability
    assert record.expires_at == int((NOW + LOOP.retention).timestamp())
    assert (record.learnable, record.activated) == (True, True)


def test_a_decision_point_keeps_its_decisions_as_long_as_it_sets() -> None:
    world = World()
    world.decide(event_id="e-1")
    change = SettingsChange(at=NOW, principal="tester", changes={}, new_lineage=False)
    world.registry.configure(DP, DecisionPointSettings(retention_days=7), change)

    world.decide(event_id="e-2")  # within the refresh interval: the settings it had
    world.ticker.seconds += 5.0
    world.decide(event_id="e-3")

    assert world.log.records[f"{DP}:e-1"].expires_at == int((NOW + LOOP.retention).timestamp())
    assert world.log.records[f"{DP}:e-2"].expires_at == int((NOW + LOOP.retention).timestamp())
    assert world.log.records[f"{DP}:e-3"].expires_at == int((NOW + timedelta(days=7)).timestamp())


def test_a_decision_point_is_registered_for_retrain_on_its_first_decision() -> None:
    world = World()
    assert world.registry.decision_points() == []
    world.decide()
    assert world.registry.decision_points() == [DP]


def test_the_model_ranks_the_actions() -> None:
    # Given a model that learned the umbrella converts
    world = World()
    world.promote(policy_preferring(2).serialize())
    # When a visitor arrives
    response = world.decide(event_id="e-1")
    # Then the umbrella ranks first with the model's probability, and the rest follow
    assert response.model_version == "1"
    assert response.ranking[0].id == "umbrella"
    assert [r.probability for r in response.ranking] == pytest.approx([0.85, 0.05, 0.05, 0.05])
    assert sum(r.probability for r in response.ranking) == pytest.approx(1.0)
    assert world.log.records[f"{DP}:e-1"].model_version == 1


# --- reproducibility and duplicates --------------------------------------------------------------


def test_the_same_event_id_makes_the_same_decision() -> None:
    world = World()
    choices = {}
    for i in range(40):
        first = world.new_decider(MemoryDecisionLog()).decide(request(event_id=f"visit-{i}"))
        again = world.new_decider(MemoryDecisionLog()).decide(request(event_id=f"visit-{i}"))
        assert (again.action_id, again.probability) == (first.action_id, first.probability)
        choices[i] = first.action_id
    # And the choice does depend on the event id
    assert len(set(choices.values())) > 1


def test_an_event_id_is_generated_when_absent() -> None:
    world = World()
    first, second = world.decide(), world.decide()
    assert (first.event_id, second.event_id) == (f"{DP}:generated-0", f"{DP}:generated-1")
    assert set(world.log.records) == {f"{DP}:generated-0", f"{DP}:generated-1"}


def test_a_callers_event_id_is_scoped_to_its_decision_point() -> None:
    # Given another decision point's caller who took the id visit-1002 first
    world = World()
    taken = world.decide(event_id="visit-1002", decision_point="squatter")
    # When this decision point's caller sends the same id, it is its own, and is answered
    mine = world.decide(event_id="visit-1002")
    assert (taken.event_id, mine.event_id) == ("squatter:visit-1002", f"{DP}:visit-1002")
    assert world.log.records[mine.event_id].decision_point == DP


def test_a_duplicate_event_id_is_refused_and_the_first_decision_kept() -> None:
    world = World()
    first = world.decide(event_id="e-1")
    with pytest.raises(DuplicateEvent):
        world.decide(event_id="e-1", profile={"segment": "new"})
    record = world.log.records[f"{DP}:e-1"]
    assert record.features.profile == {"segment": "returning", "interests": ["running"]}
    assert record.chosen_action == first.action_id


# --- privacy and activation ----------------------------------------------------------------------


def test_without_consent_the_baseline_action_is_served_and_the_profile_is_not_logged() -> None:
    # Given a model that prefers the umbrella
    world = World()
    world.promote(policy_preferring(2).serialize())
    # When a visitor without consent arrives, the first action being excluded
    response = world.decide(
        event_id="e-1", consent=False, excluded_actions=["winter-coat"], user_id="shopper-42"
    )
    # Then the first allowed action is served, with certainty, and no model is involved
    assert (response.action_id, response.probability) == ("sunglasses", 1.0)
    assert [(r.id, r.probability) for r in response.ranking] == [
        ("sunglasses", 1.0),
        ("umbrella", 0.0),
        ("scarf", 0.0),
    ]
    assert response.model_version is None
    # And nothing about the profile is logged, and the decision is never learned
    record = world.log.records[f"{DP}:e-1"]
    assert record.features.profile == {}
    assert "shopper-42" not in repr(record)
    assert record.learnable is False
    assert record.model_version is None


def test_a_deferred_decision_is_logged_as_not_activated() -> None:
    world = World()
    world.decide(event_id="deferred", defer_activation=True)
    world.decide(event_id="shown")
    assert world.log.records[f"{DP}:deferred"].activated is False
    assert world.log.records[f"{DP}:shown"].activated is True


# --- model refresh -------------------------------------------------------------------------------


def test_the_registry_is_read_at_most_every_refresh_interval() -> None:
    world = World(refresh_seconds=5.0)
    world.decide()
    assert world.registry.reads == 1
    # Given a new version promoted a second later
    world.ticker.seconds = 1.0
    world.promote(policy_preferring(1).serialize())
    # Then decisions within the interval neither read the registry nor see it
    world.ticker.seconds = 4.9
    assert world.decide().model_version is None
    assert world.registry.reads == 1
    # And the first decision after the interval picks it up
    world.ticker.seconds = 5.0
    assert world.decide().model_version == "1"
    assert world.registry.reads == 2
    world.ticker.seconds = 9.9
    world.decide()
    assert world.registry.reads == 2


def next_version_vanished(world: World) -> None:
    world.promote(policy_preferring(3).serialize())
    current = world.registry.current(DP)
    assert current is not None and current.model_key is not None
    del world.store.blobs[current.model_key]


def truncated_in_storage(world: World) -> None:
    # VW itself loads a truncated model without complaint: only the digest can tell
    blob = policy_preferring(3).serialize()
    world.promote(blob[:-100], sha256=hashlib.sha256(blob).hexdigest())


def registry_down(world: World) -> None:
    world.registry.broken = True


BREAKAGES: dict[str, Callable[[World], Any]] = {
    "garbage": lambda w: w.promote(b"garbage, not a VW model"),
    "empty": lambda w: w.promote(b""),
    "truncated": truncated_in_storage,
    "digest-mismatch": lambda w: w.promote(policy_preferring(3).serialize(), sha256="0" * 64),
    "blob-missing": next_version_vanished,
    "registry-down": registry_down,
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_model_or_registry_keeps_the_previous_model_serving(breakage: str) -> None:
    # Given version 1 serving
    world = World(refresh_seconds=5.0)
    world.promote(policy_preferring(1).serialize())
    assert world.decide().model_version == "1"
    before = served_pmf(world)
    # When the next version is broken, or the registry fails, or the blob is gone
    BREAKAGES[breakage](world)
    world.ticker.seconds = 10.0
    reads = world.registry.reads
    response = world.decide(event_id="after")
    # Then decide still answers with version 1 and its probabilities
    assert response.model_version == "1"
    assert served_pmf(world) == pytest.approx(before)
    assert world.log.records[f"{DP}:after"].model_version == 1
    assert world.registry.reads == reads + 1  # the refresh was attempted


def test_a_fixed_model_is_picked_up_after_a_broken_one() -> None:
    world = World(refresh_seconds=5.0)
    world.promote(policy_preferring(1).serialize())
    world.decide()
    world.promote(b"garbage")
    world.ticker.seconds = 5.0
    assert world.decide().model_version == "1"
    world.promote(policy_preferring(3).serialize())
    world.ticker.seconds = 10.0
    response = world.decide()
    assert response.model_version == "3"
    assert response.ranking[0].id == "scarf"


def test_a_registry_down_from_the_start_still_decides_uniformly() -> None:
    world = World()
    world.registry.broken = True
    response = world.decide()
    assert response.model_version is None
    assert [r.probability for r in response.ranking] == pytest.approx([0.25] * 4)


# --- baseline, logging only, holdout -------------------------------------------------------------


def configure(world: World, **settings: Any) -> None:
    change = SettingsChange(at=NOW, principal="tester", changes={}, new_lineage=False)
    world.registry.configure(DP, DecisionPointSettings.model_validate(settings), change)
    world.ticker.seconds += 10.0  # past the refresh interval


def test_a_request_names_its_baseline_among_the_allowed_actions() -> None:
    with pytest.raises(ValueError, match="not one of the allowed actions"):
        request(baseline="sandals")
    with pytest.raises(ValueError, match="not one of the allowed actions"):
        request(baseline="scarf", excluded_actions=["scarf"])
    world = World()
    response = world.decide(event_id="e-1", consent=False, baseline="umbrella")
    assert (response.action_id, response.probability) == ("umbrella", 1.0)


def test_logging_only_serves_the_baseline_and_learns_nothing() -> None:
    world = World()
    configure(world, learning_mode="logging_only")

    for number in range(20):
        response = world.decide(event_id=f"e-{number}", baseline="scarf")
        assert (response.action_id, response.probability) == ("scarf", 1.0)
        assert response.model_version is None

    records = world.log.records.values()
    assert all(not r.learnable and not r.holdout for r in records)


def test_a_holdout_share_of_traffic_gets_the_baseline_and_is_never_learned() -> None:
    world = World()
    configure(world, holdout_share=0.25)

    responses = [world.decide(event_id=f"e-{n}") for n in range(400)]

    held = [world.log.records[r.event_id] for r in responses]
    holdout = [r for r in held if r.holdout]
    assert 60 <= len(holdout) <= 140  # about a quarter
    assert all(r.chosen_action == ACTIONS[0] and r.probability == 1.0 for r in holdout)
    assert all(not r.learnable for r in holdout)
    assert all(r.learnable for r in held if not r.holdout)


def test_a_visitor_is_always_in_the_holdout_or_always_out() -> None:
    world = World()
    configure(world, holdout_share=0.5)

    for visitor in ("ann", "bob", "cy", "dee", "ed", "flo"):
        flags = {
            world.log.records[world.decide(user_id=visitor).event_id].holdout for _ in range(10)
        }
        assert len(flags) == 1, visitor


def test_only_visitors_who_consented_are_held_out() -> None:
    # Given a decision point holding out half of its traffic
    world = World()
    world.decider.loop = LOOP.model_copy(update={"holdout_share": 0.5})
    # Then no decision without consent is in the holdout (the lift compares like with like)
    for number in range(40):
        world.decide(event_id=f"n-{number}", consent=False)
        world.decide(event_id=f"y-{number}")
    held = [r for r in world.log.records.values() if r.holdout]
    assert held and all(r.event_id.startswith(f"{DP}:y-") for r in held)


def test_an_unknown_decision_point_is_refused_and_remembered_for_a_refresh_interval() -> None:
    # Given a cache that creates no decision point itself
    world = World()
    world.models = ModelCache(
        world.registry, world.store, EXPLORATION, 5.0, clock=world.ticker, auto_create=0
    )
    world.decider = world.new_decider(world.log)
    with pytest.raises(UnknownDecisionPoint):
        world.decide()
    reads = world.registry.reads
    # Then a repeat within the interval costs no registry read
    with pytest.raises(UnknownDecisionPoint):
        world.decide()
    assert world.registry.reads == reads and world.log.records == {}
    # And once an operator creates it, it is decided for after the interval
    world.registry.register(DP, NOW)
    world.ticker.seconds += 5.0
    assert world.decide().decision_point == DP


def test_with_the_registry_down_a_new_name_is_served_but_not_remembered() -> None:
    world = World()
    world.registry.broken = True
    assert world.decide(decision_point="brand-new").model_version is None
    world.registry.broken = False
    world.models.model("brand-new", NOW)  # read again at once: nothing was cached
    assert "brand-new" in world.registry.pointers
