"""One contract, two implementations: the in-memory fakes and DynamoDB/S3 (on moto, from
template.yaml) must behave the same, or unit tests on the fakes prove nothing."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from decider.errors import DuplicateEvent, RewardOutOfRange, UnknownEvent, UnknownVersion
from decider.learning.featurize import Label
from decider.learning.policy import Policy
from decider.records import (
    LOG_SHARDS,
    DecisionFeatures,
    DecisionLog,
    DecisionRecord,
    ModelStore,
    ModelVersion,
    Registry,
    StaleExport,
    StaleModel,
    StaleSettings,
    Tally,
    earned,
    log_shards,
)
from decider.schemas import DecisionPointSettings, SettingsChange
from decider.store.dynamo_log import DynamoDecisionLog
from decider.store.dynamo_registry import DynamoRegistry
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry
from decider.store.s3_models import S3ModelStore
from moto import mock_aws

from infra.stack import LocalStack

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WAIT = timedelta(seconds=600)  # the stack's reward wait, in these tests
DP = "home-hero"


class CountingClient:
    """A boto3 client that counts the calls made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "exceptions":
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attribute(*args, **kwargs)

        return counted


@dataclass
class Stores:
    kind: str
    log: DecisionLog
    registry: Registry
    models: ModelStore
    dynamodb: CountingClient | None = None


@pytest.fixture(params=["memory", "aws"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "memory":
        yield Stores("memory", MemoryDecisionLog(), MemoryRegistry(), MemoryModelStore())
        return
    with mock_aws():
        stack = LocalStack()
        stack.create_resources()
        decisions = stack.template.tables["DecisionsTable"].name
        registry = stack.template.tables["ModelRegistryTable"].name
        bucket = stack.template.buckets["ModelsBucket"].name
        dynamodb = CountingClient(boto3.client("dynamodb"))
        yield Stores(
            "aws",
            DynamoDecisionLog(decisions, "by-shard-time", client=dynamodb),
            DynamoRegistry(registry),
            S3ModelStore(bucket),
            dynamodb,
        )


def record(
    event_id: str,
    decided_at: datetime = T0,
    decision_point: str = DP,
    *,
    activated: bool = True,
    learnable: bool = True,
    note: str = "",
) -> DecisionRecord:
    features = DecisionFeatures(
        context={"season": "winter", "hour": 10, "weekend": False},
        custom={"referrer": "news|letter: a=b", "note": note},
        profile={"segment": "returning", "interests": ["running", "雪"], "ltv": 120.5}
        if learnable
        else {},
        actions=[("winter-coat", {"price": 129.0}), ("sunglasses", {"category": "accessories"})],
    )
    return DecisionRecord(
        event_id=event_id,
        decision_point=decision_point,
        decided_at=decided_at,
        features=features,
        chosen_index=1,
        probability=0.1 + 1e-9,
        model_version=3,
        learnable=learnable,
        activated=activated,
        expires_at=int((decided_at + timedelta(days=30)).timestamp()),
    )


def stored(stores: Stores, event_id: str, decision_point: str = DP) -> DecisionRecord:
    found = [
        r
        for r in stores.log.settled(decision_point, None, T0 + timedelta(days=365))
        if r.event_id == event_id
    ]
    assert len(found) == 1
    return found[0]


# --- decision log: no hot partition --------------------------------------------------------------


def test_one_decision_points_writes_spread_evenly_over_the_time_indexs_shards() -> None:
    with mock_aws():
        stack = LocalStack()
        stack.create_resources()
        # Given the time index the template defines, and the attribute it is keyed by
        table = stack.template.tables["DecisionsTable"]
        index = next(
            i
            for i in table.definition["GlobalSecondaryIndexes"]
            if i["IndexName"] == "by-shard-time"
        )
        keyed_by = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
        log = DynamoDecisionLog(table.name, "by-shard-time")

        # When one busy decision point logs 1,600 decisions within a second
        for n in range(1600):
            log.put(record(f"visit-{n}", T0 + timedelta(microseconds=n * 600)))

        # Then the index holds them under LOG_SHARDS keys, none with more than 1.5 times its
        # share: no one partition takes the decision point's writes
        pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table.name)
        counts = Counter(item[keyed_by]["S"] for page in pages for item in page["Items"])
        assert sum(counts.values()) == 1600
        assert set(counts) == set(log_shards(DP)) and len(counts) == LOG_SHARDS
        share = 1600 / LOG_SHARDS
        assert max(counts.values()) <= 1.5 * share and min(counts.values()) >= 0.5 * share
        # And retrain reads them all back through the shards, oldest first, and the newest
        # first for the apprentice's judgement
        until = T0 + timedelta(seconds=1)
        settled = list(log.settled(DP, None, until))
        assert [r.event_id for r in settled] == [f"visit-{n}" for n in range(1600)]
        recent = list(log.recent(DP, T0 + timedelta(microseconds=600 * 1199), until))
        assert [r.event_id for r in recent] == [f"visit-{n}" for n in range(1599, 1199, -1)]


# --- decision log: put ---------------------------------------------------------------------------


def test_a_decision_is_stored_as_made(stores: Stores) -> None:
    original = record("e-1", T0 + timedelta(microseconds=123456))
    stores.log.put(original)
    assert stored(stores, "e-1") == original


def test_a_decision_without_model_or_consent_is_stored_as_made(stores: Stores) -> None:
    original = record("e-1", learnable=False, activated=False)
    original = DecisionRecord(**{**original.__dict__, "model_version": None})
    stores.log.put(original)
    assert stored(stores, "e-1") == original


def test_an_apprentice_decision_keeps_its_baseline_mode_and_the_models_choice(
    stores: Stores,
) -> None:
    original = dataclasses.replace(
        record("e-1"), model_version=None, probability=1.0, chosen_index=1,
        baseline_index=1, mode="apprentice", model_top=0,
    )  # fmt: skip
    stores.log.put(original)
    assert stored(stores, "e-1") == original
    assert not original.exploratory


def test_a_duplicate_event_id_is_refused_and_the_first_kept(stores: Stores) -> None:
    stores.log.put(record("e-1", note="first"))
    with pytest.raises(DuplicateEvent):
        stores.log.put(record("e-1", T0 + timedelta(minutes=1), note="second"))
    assert stored(stores, "e-1").features.custom["note"] == "first"


class RetryingClient(CountingClient):
    """A client whose PutItem is sent twice, as boto3 sends a request again when the first
    one's answer was lost (a timeout, a 500): the first is written, the second answered."""

    def put_item(self, **request: Any) -> Any:
        self._client.put_item(**request)
        return self._client.put_item(**request)


def test_a_decision_written_again_by_a_retry_is_not_a_duplicate() -> None:
    with mock_aws():
        stack = LocalStack()
        stack.create_resources()
        table = stack.template.tables["DecisionsTable"].name
        client = RetryingClient(boto3.client("dynamodb"))
        log = DynamoDecisionLog(table, "by-shard-time", client=client)
        # When a decision's write is sent twice by the client's retry
        log.put(record("e-1"))
        # Then it is logged once, and no duplicate is reported
        assert [r.event_id for r in log.settled(DP, None, T0 + timedelta(days=1))] == ["e-1"]
        # But another put of the same event id is still a duplicate
        with pytest.raises(DuplicateEvent):
            DynamoDecisionLog(table, "by-shard-time").put(record("e-1"))


# --- decision log: rewards -----------------------------------------------------------------------


def reward(
    stores: Stores,
    event_id: str,
    value: float,
    reward_id: str = "-",
    *,
    since: datetime = T0,
    aggregation: Any = "earliest",
) -> str:
    return stores.log.record_reward(
        event_id, value, reward_id, now=since + WAIT, on_time_since=since, aggregation=aggregation
    )


def test_a_reward_is_recorded_once(stores: Stores) -> None:
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 1.0, "order-1") == "recorded"
    assert stored(stores, "e-1").reward == 1.0
    # A retry with the same reward id changes nothing
    assert reward(stores, "e-1", 7.0, "order-1") == "duplicate"
    assert stored(stores, "e-1").reward == 1.0


def test_a_reward_after_the_wait_is_late_and_not_learned(stores: Stores) -> None:
    # Given a decision made before the on-time window
    stores.log.put(record("e-1", T0 - timedelta(microseconds=1)))
    # Then its reward is late, and a retry of it is a duplicate; neither is learned
    assert reward(stores, "e-1", 1.0, "order-1", since=T0) == "late"
    assert reward(stores, "e-1", 1.0, "order-1", since=T0) == "duplicate"
    assert stored(stores, "e-1").reward is None


def test_a_reward_exactly_at_the_wait_is_on_time(stores: Stores) -> None:
    stores.log.put(record("e-1", T0))
    assert reward(stores, "e-1", 1.0, since=T0) == "recorded"


def test_a_recorded_reward_id_arriving_again_late_is_a_duplicate(stores: Stores) -> None:
    stores.log.put(record("e-1", T0))
    assert reward(stores, "e-1", 1.0, "order-1", since=T0) == "recorded"
    assert reward(stores, "e-1", 1.0, "order-1", since=T0 + timedelta(hours=1)) == "duplicate"
    assert stored(stores, "e-1").reward == 1.0


def test_a_reward_for_an_unknown_event_is_refused(stores: Stores) -> None:
    with pytest.raises(UnknownEvent):
        reward(stores, "nobody", 1.0)
    with pytest.raises(UnknownEvent):
        stores.log.activate("nobody")
    # And neither left anything behind: the event id is still free
    stores.log.put(record("nobody"))
    assert stored(stores, "nobody").reward is None


def test_earliest_aggregation_keeps_the_first_reward(stores: Stores) -> None:
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 1.0, "click") == "recorded"
    assert reward(stores, "e-1", 5.0, "purchase") == "recorded"
    assert stored(stores, "e-1").reward == 1.0


def test_sum_aggregation_adds_distinct_rewards_once_each(stores: Stores) -> None:
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 1.0, "click", aggregation="sum") == "recorded"
    assert reward(stores, "e-1", 2.5, "purchase", aggregation="sum") == "recorded"
    assert reward(stores, "e-1", 2.5, "purchase", aggregation="sum") == "duplicate"
    assert reward(stores, "e-1", 0.1, "review", aggregation="sum") == "recorded"
    assert stored(stores, "e-1").reward == pytest.approx(3.6)


def test_small_rewards_add_up_and_late_ones_are_kept_once(stores: Stores) -> None:
    # Rewards DynamoDB writes with an exponent (1e-05) still add up, on time and late
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 1e-05, "click", aggregation="sum") == "recorded"
    assert reward(stores, "e-1", 1e-05, "view", aggregation="sum") == "recorded"
    assert stored(stores, "e-1").reward == pytest.approx(2e-05)
    stores.log.put(record("e-2", T0 - timedelta(microseconds=1)))
    assert reward(stores, "e-2", 1e-05, "click", since=T0) == "late"
    assert reward(stores, "e-2", 1e-05, "view", since=T0) == "late"
    assert reward(stores, "e-2", 1e-05, "view", since=T0) == "duplicate"


def test_average_aggregation_is_the_mean_of_distinct_rewards(stores: Stores) -> None:
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 1.0, "rating-1", aggregation="average") == "recorded"
    assert reward(stores, "e-1", 4.0, "rating-2", aggregation="average") == "recorded"
    assert reward(stores, "e-1", 4.0, "rating-2", aggregation="average") == "duplicate"
    assert reward(stores, "e-1", 2.5, "rating-3", aggregation="average") == "recorded"
    assert stored(stores, "e-1").reward == pytest.approx(2.5)


def test_max_aggregation_keeps_the_largest_and_counts_each_reward_once(stores: Stores) -> None:
    stores.log.put(record("e-1"))
    assert reward(stores, "e-1", 2.0, "view", aggregation="max") == "recorded"
    assert reward(stores, "e-1", 1.0, "click", aggregation="max") == "recorded"  # not larger
    assert reward(stores, "e-1", 1.0, "click", aggregation="max") == "duplicate"
    assert stored(stores, "e-1").reward == 2.0
    assert reward(stores, "e-1", 5.0, "purchase", aggregation="max") == "recorded"
    assert reward(stores, "e-1", 9.0, "purchase", aggregation="max") == "duplicate"
    assert stored(stores, "e-1").reward == 5.0
    # And a smaller reward after the wait is late, not recorded
    stores.log.put(record("e-2", T0 - timedelta(microseconds=1)))
    assert reward(stores, "e-2", 1.0, "view", since=T0, aggregation="max") == "late"


# --- decision log: activation --------------------------------------------------------------------


def test_a_decisions_own_reward_settings_win_over_the_stacks(stores: Stores) -> None:
    # Given decisions logged with their decision point's own settings
    own = dataclasses.replace(
        record("own"), reward_until=T0 + timedelta(seconds=60), aggregation="sum",
        reward_range=(0.0, 10.0),
    )  # fmt: skip
    stores.log.put(own)
    stores.log.put(dataclasses.replace(record("long"), reward_until=T0 + timedelta(days=2)))

    def send(event_id: str, value: float, reward_id: str, after: timedelta) -> str:
        # The stack would say: earliest, any value, on time until T0 + WAIT
        return stores.log.record_reward(
            event_id, value, reward_id, now=T0 + after, on_time_since=T0 + after - WAIT,
            aggregation="earliest",
        )  # fmt: skip

    # Then its aggregation counts, whatever the stack's
    assert send("own", 2.0, "a", timedelta(seconds=10)) == "recorded"
    assert send("own", 3.0, "b", timedelta(seconds=20)) == "recorded"
    assert stored(stores, "own").reward == 5.0
    # And a value outside its range is refused, and changes nothing
    with pytest.raises(RewardOutOfRange) as refused:
        send("own", 11.0, "c", timedelta(seconds=30))
    assert refused.value.field == "value" and stored(stores, "own").reward == 5.0
    # And its deadline, not the stack's wait, makes a reward late
    assert send("own", 1.0, "d", timedelta(seconds=61)) == "late"
    assert send("long", 1.0, "e", timedelta(days=1)) == "recorded"
    assert stored(stores, "own") == own.__class__(**{**own.__dict__, "reward": 5.0})


def test_a_deferred_decision_is_activated_once(stores: Stores) -> None:
    stores.log.put(record("deferred", activated=False))
    assert stored(stores, "deferred").activated is False
    assert stores.log.activate("deferred") == "activated"
    assert stores.log.activate("deferred") == "already_active"
    assert stored(stores, "deferred").activated is True


def test_an_immediate_decision_is_already_active(stores: Stores) -> None:
    stores.log.put(record("shown"))
    assert stores.log.activate("shown") == "already_active"


# --- decision log: the settled window ------------------------------------------------------------


def test_settled_is_the_half_open_window_in_time_order(stores: Stores) -> None:
    # Given decisions a minute apart, written out of order, and some for another decision point
    minutes = [7, 2, 9, 0, 4, 3, 8, 6, 5, 1]
    for m in minutes:
        stores.log.put(record(f"e-{m}", T0 + timedelta(minutes=m)))
        stores.log.put(record(f"other-{m}", T0 + timedelta(minutes=m), decision_point="email"))
    stores.log.put(record("just-after-since", T0 + timedelta(minutes=2, microseconds=1)))
    # When the window (T0 + 2 min, T0 + 6 min] is read
    window = list(stores.log.settled(DP, T0 + timedelta(minutes=2), T0 + timedelta(minutes=6)))
    # Then it excludes its start, includes its end, in time order, this decision point only
    assert [r.event_id for r in window] == ["just-after-since", "e-3", "e-4", "e-5", "e-6"]
    everything = list(stores.log.settled(DP, None, T0 + timedelta(minutes=6)))
    assert [r.event_id for r in everything][:3] == ["e-0", "e-1", "e-2"]
    assert len(everything) == 8
    assert list(stores.log.settled(DP, T0 + timedelta(minutes=9), T0 + timedelta(hours=1))) == []


def test_recent_is_the_same_window_newest_first(stores: Stores) -> None:
    for m in (3, 1, 2, 0):
        stores.log.put(record(f"e-{m}", T0 + timedelta(minutes=m)))
    stores.log.put(record("other", T0 + timedelta(minutes=1), decision_point="email"))
    recent = stores.log.recent(DP, T0, T0 + timedelta(minutes=2))
    assert [r.event_id for r in recent] == ["e-2", "e-1"]
    assert [r.event_id for r in stores.log.recent(DP, None, T0)] == ["e-0"]


def test_settled_reads_every_page_of_a_large_window(stores: Stores) -> None:
    # Given enough decisions to exceed one DynamoDB page of 1 MB
    note = "n" * 300_000
    event_ids = [f"big-{i}" for i in range(5)]
    for i, event_id in enumerate(reversed(event_ids)):
        stores.log.put(record(event_id, T0 + timedelta(seconds=5 - i), note=note))
    stores.log.put(record("outside", T0 + timedelta(hours=1)))
    # When the window is read
    if stores.dynamodb is not None:
        stores.dynamodb.calls.clear()
    window = list(stores.log.settled(DP, None, T0 + timedelta(minutes=1)))
    # Then it is complete, in order, and intact
    assert [r.event_id for r in window] == event_ids
    assert all(r.features.custom["note"] == note for r in window)
    if stores.dynamodb is not None:
        assert stores.dynamodb.calls["query"] >= 2, "the window did not span several pages"


# --- decision log: imported history ------------------------------------------------------------


def test_an_imported_decision_is_stored_with_its_reward(stores: Stores) -> None:
    original = dataclasses.replace(record("e-1"), model_version=None, reward=-0.5)
    stores.log.put(original)
    assert stored(stores, "e-1") == original
    # A reward arriving later is recorded, and under earliest the logged one is kept
    assert reward(stores, "e-1", 1.0, "order-1") == "recorded"
    assert stored(stores, "e-1").reward == -0.5


def test_the_decision_points_of_logged_event_ids_are_found_in_batches(stores: Stores) -> None:
    # Given decisions of two decision points
    stores.log.put(record("e-1"))
    stores.log.put(record("e-2", decision_point="other"))
    stores.log.put(record("e-250"))
    asked = [f"e-{n}" for n in range(1, 251)]  # more than one BatchGetItem takes
    if stores.dynamodb is not None:
        stores.dynamodb.calls.clear()
    # When their event ids are looked up among many that are not logged
    found = stores.log.decision_points_of([*asked, "e-1"])
    # Then the logged ones are found with their decision points, and no others
    assert found == {"e-1": DP, "e-2": "other", "e-250": DP}
    if stores.dynamodb is not None:
        assert stores.dynamodb.calls["batch_get_item"] == 3
    assert stores.log.decision_points_of([]) == {}


# --- model store ---------------------------------------------------------------------------------


def test_a_model_round_trips_with_the_same_probabilities(stores: Stores) -> None:
    features = record("e-1").features
    policy = Policy(["--epsilon", "0.2"])
    for _ in range(10):
        policy.learn(features, Label(1, -1.0, 0.5))
    blob = policy.serialize()
    key = stores.models.put(DP, 1, blob)
    assert stores.models.get(key) == blob
    loaded = Policy(["--epsilon", "0.2"], model=stores.models.get(key))
    assert loaded.pmf(features) == pytest.approx(policy.pmf(features))
    assert loaded.pmf(features) == pytest.approx([0.1, 0.9])


def test_model_keys_are_never_reused(stores: Stores) -> None:
    first = stores.models.put(DP, 1, b"first")
    second = stores.models.put(DP, 1, b"second")
    assert first != second
    assert (stores.models.get(first), stores.models.get(second)) == (b"first", b"second")


def test_an_unknown_model_key_is_an_error(stores: Stores) -> None:
    with pytest.raises(Exception):  # noqa: B017  (KeyError in memory, NoSuchKey on S3)
        stores.models.get("models/home-hero/00000001-missing.vw")


# --- registry ------------------------------------------------------------------------------------


def version(number: int, watermark: datetime, window_start: datetime | None = None) -> ModelVersion:
    return ModelVersion(
        decision_point=DP,
        version=number,
        model_key=f"models/{DP}/{number:08d}.vw",
        model_sha256=hashlib.sha256(str(number).encode()).hexdigest(),
        window_start=window_start,
        watermark=watermark,
        trained_at=watermark + timedelta(hours=1),
        decisions_learned=10 * number,
        evaluation_json='{"candidate": {"n": 1}}',
    )


def test_registering_is_idempotent_and_makes_the_decision_point_known(stores: Stores) -> None:
    assert stores.registry.current(DP) is None
    assert stores.registry.decision_points() == []
    stores.registry.register(DP, T0)
    stores.registry.register(DP, T0 + timedelta(hours=1))
    stores.registry.register("email", T0)
    assert stores.registry.decision_points() == ["email", DP]
    current = stores.registry.current(DP)
    assert current is not None
    assert (current.version, current.model_key, current.watermark) == (None, None, None)


def test_promote_advance_and_versions_follow_the_expected_version(stores: Stores) -> None:
    registry = stores.registry
    registry.register(DP, T0)
    first = version(1, T0)
    # Promote version 1 over nothing
    registry.promote(first, expected_version=None)
    current = registry.current(DP)
    assert current is not None
    assert (current.version, current.model_key, current.model_sha256, current.watermark) == (
        1,
        first.model_key,
        first.model_sha256,
        T0,
    )
    # A second retrain that also started from nothing is stale, and leaves no trace
    with pytest.raises(StaleModel):
        registry.promote(version(1, T0 + timedelta(minutes=1)), expected_version=None)
    with pytest.raises(StaleModel):
        registry.advance(DP, T0 + timedelta(minutes=1), expected_version=None)
    # Advancing from version 1 moves the watermark only
    registry.advance(DP, T0 + timedelta(minutes=5), expected_version=1)
    current = registry.current(DP)
    assert current is not None
    assert (current.version, current.model_key, current.watermark) == (
        1,
        first.model_key,
        T0 + timedelta(minutes=5),
    )
    # Promote version 2 from version 1
    second = version(2, T0 + timedelta(minutes=10), window_start=T0 + timedelta(minutes=5))
    registry.promote(second, expected_version=1)
    with pytest.raises(StaleModel):
        registry.promote(version(2, T0 + timedelta(minutes=11)), expected_version=1)
    with pytest.raises(StaleModel):
        registry.advance(DP, T0 + timedelta(minutes=30), expected_version=1)
    current = registry.current(DP)
    assert current is not None
    assert (current.version, current.model_key, current.watermark) == (
        2,
        second.model_key,
        T0 + timedelta(minutes=10),
    )
    # And the history holds exactly the two promoted versions, as promoted
    assert registry.versions(DP) == [first, second]
    assert registry.versions("email") == []
    # Registering again does not reset anything
    registry.register(DP, T0 + timedelta(days=1))
    assert registry.current(DP) == current


def test_the_first_advance_creates_the_watermark(stores: Stores) -> None:
    stores.registry.register(DP, T0)
    stores.registry.advance(DP, T0 + timedelta(minutes=1), expected_version=None)
    current = stores.registry.current(DP)
    assert current is not None
    assert (current.version, current.watermark) == (None, T0 + timedelta(minutes=1))
    stores.registry.advance(DP, T0 + timedelta(minutes=2), expected_version=None)
    current = stores.registry.current(DP)
    assert current is not None and current.watermark == T0 + timedelta(minutes=2)


def test_what_versions_earned_is_kept_with_the_version_whose_window_settled_it(
    stores: Stores,
) -> None:
    registry = stores.registry
    registry.register(DP, T0)
    registry.promote(version(1, T0), expected_version=None)
    # Version 2's window held 30 decisions served by version 1, one with a tiny reward
    # (its square is below DynamoDB's number range), and 2 served by version 2 itself
    second = version(2, T0 + timedelta(minutes=5))
    tiny = Tally(30, 6.0 + 1e-90, 6.0 + 1e-180)
    registry.promote(replace(second, served={1: tiny, 2: Tally(2, 1.0, 1.0)}), 1)
    # A stale promotion carrying the same tallies adds nothing
    with pytest.raises(StaleModel):
        registry.promote(replace(second, served={1: Tally(99, 9.0, 9.0)}), 1)
    registry.promote(replace(version(3, T0 + timedelta(minutes=10)),
                             served={1: Tally(10, 4.0, 4.0)}), 2)  # fmt: skip
    by_number = earned(registry.versions(DP))
    assert by_number[1] == Tally(40, 10.0, 10.0)
    assert by_number[2] == Tally(2, 1.0, 1.0)
    assert 3 not in by_number


def test_settings_are_stored_with_their_history_newest_first(stores: Stores) -> None:
    # Given a decision point configured three times (the first registers it)
    for number, days in enumerate((7, 14, 21)):
        change = SettingsChange(
            at=T0 + timedelta(minutes=number),
            principal=f"arn:aws:iam::123456789012:user/operator-{number}",
            changes={"retention_days": {"from": None, "to": days}},
            new_lineage=False,
        )
        stores.registry.configure(DP, DecisionPointSettings(retention_days=days), change)

    # Then the last settings are in force, and every change is kept, newest first
    current = stores.registry.current(DP)
    assert current is not None and current.settings.retention_days == 21
    assert DP in stores.registry.decision_points()
    history = stores.registry.settings_history(DP, limit=2)
    assert [c.principal.rsplit("-", 1)[1] for c in history] == ["2", "1"]
    assert history[0].changes == {"retention_days": {"from": None, "to": 21}}
    assert len(stores.registry.settings_history(DP, limit=50)) == 3
    assert stores.registry.settings_history("never-seen", limit=50) == []
    # And a change of settings is not a model version
    assert stores.registry.versions(DP) == []


def test_a_conditional_change_of_settings_loses_to_one_made_meanwhile(stores: Stores) -> None:
    moments = iter(range(10))

    def change(principal: str) -> SettingsChange:
        at = T0 + timedelta(minutes=next(moments))
        return SettingsChange(at=at, principal=principal, changes={}, new_lineage=False)

    # Given settings never written, read as the defaults: a conditional write succeeds
    stores.registry.register(DP, T0)
    first = DecisionPointSettings(learning_mode="apprentice")
    read = stores.registry.current(DP)
    assert read is not None and read.settings_revision == 0
    stores.registry.configure(DP, first, change("a"), expected_revision=0)
    read = stores.registry.current(DP)
    assert read is not None and (read.settings, read.settings_revision) == (first, 1)
    # When an operator changes them after a reader read them
    stores.registry.configure(DP, DecisionPointSettings(retention_days=3), change("operator"))

    # Then the reader's conditional write is refused and changes nothing
    with pytest.raises(StaleSettings):
        stores.registry.configure(
            DP, DecisionPointSettings(learning_mode="online"), change("b"), expected_revision=1
        )
    current = stores.registry.current(DP)
    assert current is not None and current.settings == DecisionPointSettings(retention_days=3)
    assert [c.principal for c in stores.registry.settings_history(DP, 50)] == ["operator", "a"]
    # And one that read the latest settings goes through
    stores.registry.configure(DP, first, change("c"), expected_revision=2)


def test_the_export_mark_moves_only_from_where_it_was(stores: Stores) -> None:
    stores.registry.register(DP, T0)
    day1, day2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    stores.registry.exported(DP, day1, expected=None)
    with pytest.raises(StaleExport):
        stores.registry.exported(DP, day2, expected=None)  # another run moved it first
    stores.registry.exported(DP, day2, expected=day1)
    current = stores.registry.current(DP)
    assert current is not None and current.exported == day2
    # And a promotion keeps it
    stores.registry.promote(version(1, T0), expected_version=None)
    current = stores.registry.current(DP)
    assert current is not None and current.exported == day2


def test_a_rejected_version_is_recorded_without_serving_and_a_recorded_one_can_serve(
    stores: Stores,
) -> None:
    # Given version 1 serving
    stores.registry.promote(version(1, T0), expected_version=None)
    # When version 2 is rejected
    stores.registry.reject(
        replace(version(2, T0 + timedelta(hours=1)), rejected="if_not_worse: worse"),
        expected_version=1,
    )
    # Then version 1 serves with its watermark, and version 2 is recorded with its reason
    current = stores.registry.current(DP)
    assert current is not None
    assert (current.version, current.watermark, current.latest) == (1, T0, 2)
    assert current.next_version == 3
    assert {v.version: v.rejected for v in stores.registry.versions(DP)} == {
        1: None,
        2: "if_not_worse: worse",
    }
    # And a reject against a version no longer current is stale
    with pytest.raises(StaleModel):
        stores.registry.reject(version(3, T0), expected_version=2)

    # When an operator serves version 2, the change is kept in the history
    change = SettingsChange(
        at=T0, principal="operator", changes={"serving_version": {"from": 1, "to": 2}},
        new_lineage=False,
    )  # fmt: skip
    served = stores.registry.serve(DP, 2, change)
    assert served.version == 2
    current = stores.registry.current(DP)
    assert current is not None
    assert (current.version, current.model_key, current.watermark) == (2, served.model_key, T0)
    assert stores.registry.settings_history(DP, limit=5)[0].changes == change.changes
    # And a version never recorded cannot serve
    with pytest.raises(UnknownVersion):
        stores.registry.serve(DP, 9, change)
