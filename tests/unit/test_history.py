"""Warm starts: DSJSON and CSV history parsed into decisions, validated as live ones are,
imported into a new decision point with the in-memory stores, and learned by retrain."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import vowpal_wabbit_next as vw
from decider.errors import (
    AlreadyTrained,
    DuplicateEvent,
    InvalidHistory,
    InvalidRequest,
)
from decider.http import history
from decider.http.history import History, import_file, import_history, parse_csv, parse_dsjson
from decider.http.personalizer import PersonalizerRankRequest, to_decide_request
from decider.learning import trainer
from decider.learning.policy import Policy
from decider.records import CurrentModel, DecisionFeatures, DecisionRecord
from decider.schemas import Action, DecisionPointSettings, HistoryImport, SettingsChange
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

from tests.history_files import (
    BEST,
    DRINKS,
    START,
    coffee_csv,
    coffee_dsjson,
    personalizer_line,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DP = "coffee"
RETENTION = timedelta(days=30)
AT = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def dsjson(lines: list[str], **options: Any) -> History:
    return parse_dsjson(lines, decision_point=DP, retention=RETENTION, now=NOW, **options)


def csv(text: str, **options: Any) -> History:
    return parse_csv(text, decision_point=DP, retention=RETENTION, now=NOW, **options)


def line(**changes: Any) -> str:
    """One valid Personalizer line (three drinks, sunny, iced coffee chosen and bought),
    with top-level keys changed (None deletes one)."""
    event = json.loads(personalizer_line("e-1", AT, [{"weather": "sunny"}], DRINKS, 1, 0.8, 1.0))
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return json.dumps(event)


def with_c(**c: Any) -> str:
    """The valid line with keys of ``c`` changed."""
    event = json.loads(line())
    event["c"].update(c)
    return json.dumps(event)


def refusal(parse: Any, *args: Any, **kwargs: Any) -> InvalidHistory:
    with pytest.raises(InvalidHistory) as refused:
        parse(*args, **kwargs)
    assert refused.value.status == 400
    assert refused.value.code == "invalid_history"
    return refused.value


# --- DSJSON: what a line becomes ------------------------------------------------------------


def test_a_personalizer_line_becomes_the_decision_it_logged() -> None:
    (record,) = dsjson([line()]).records
    assert record == DecisionRecord(
        event_id=f"{DP}:e-1",  # the file's id, scoped to the decision point
        decision_point=DP,
        decided_at=AT,
        features=record.features,
        chosen_index=1,
        probability=0.8,
        model_version=None,
        learnable=True,
        activated=True,
        expires_at=int((NOW + RETENTION).timestamp()),  # from the import: history is old
        reward=1.0,  # minus _label_cost
    )
    assert record.chosen_action == "iced-coffee"


def test_a_personalizer_line_has_the_features_the_personalizer_routes_would_give() -> None:
    # Given a rank request as a Personalizer client sends it, and the line Personalizer logged
    context: list[dict[str, Any]] = [
        {"user": {"profileType": "AnonymousUser", "latlong": [47.6, -122.1]}},
        {"device": {"mobile": True}},
        {"tags": ["world", "politics"]},
    ]
    actions: list[tuple[str, dict[str, Any]]] = [
        ("NewsArticle", {"type": "News", "length": 3.5}),
        ("SportsArticle", {}),
    ]
    rank = PersonalizerRankRequest.model_validate(
        {
            "contextFeatures": context,
            "actions": [{"id": i, "features": [f]} for i, f in actions],
        }
    )
    logged = personalizer_line("e-9", AT, context, actions, 0, 0.7, 0.0)

    # When it is imported
    (record,) = dsjson([logged]).records

    # Then the model sees what a live rank through /personalizer/v1.0 would have shown it
    live = to_decide_request(rank, DP)
    assert record.features.custom == live.context.features
    assert record.features.custom["user.latlong[1]"] == -122.1
    assert record.features.actions == [(a.id, a.features) for a in live.actions]


def test_context_is_derived_from_the_line_s_time_as_decide_would() -> None:
    black_friday = datetime(2025, 11, 28, 15, tzinfo=UTC)
    (record,) = dsjson([line(Timestamp="2025-11-28T15:00:00.0000000Z")]).records
    assert record.decided_at == black_friday
    assert record.features.context == {"retail_event": "black_friday", "month": "nov"}


def test_vw_namespaces_get_dotted_names_and_underscored_keys_are_not_features() -> None:
    # The decision service's older shape (VW's test/train-sets/decisionservice.json): object
    # namespaces, _-keys that VW reads no feature from, several feature objects per action.
    event = json.loads(line())
    event["c"] = {
        "_synthetic": False,
        "User": {"_age": 0},
        "Geo": {"country": "United States", "_countrycf": "8", "state": "Louisiana"},
        "_multi": [
            {
                "_tag": "cmplx$http://www.complex.com/music/2017/07/a",
                "i": {"constant": 1, "id": "cmplx$http://www.complex.com/music/2017/07/a"},
                "j": [{"_title": "A title"}, {"Tags": {"Chicago": 1, "Twitter Inc.": 0.9}}],
            },
            {"_tag": "b", "j": [{"XSentiment": 0.2, "_expires": "2017-07-20T20:44:41Z"}]},
        ],
    }
    event["_labelIndex"], event["_label_Action"] = 0, 1

    (record,) = dsjson([json.dumps(event)]).records

    assert record.features.custom == {"Geo.country": "United States", "Geo.state": "Louisiana"}
    assert record.features.actions == [
        (
            "cmplx$http://www.complex.com/music/2017/07/a",
            {"Tags.Chicago": 1, "Tags.Twitter Inc.": 0.9},
        ),
        ("b", {"XSentiment": 0.2}),
    ]


def test_an_action_logged_without_an_id_gets_one_from_its_features() -> None:
    # VW's own examples (test/train-sets/cb_simple_pdrop.json) have actions without a _tag
    vw_line = json.dumps(
        {
            "_label_cost": -1.0,
            "_label_probability": 0.5,
            "_label_Action": 2,
            "_labelIndex": 1,
            "a": [2, 1],
            "Timestamp": "2026-10-01T08:00:00Z",
            "c": {"shared": {"f": "1"}, "_multi": [{"action": {"f": "1"}}, {"action": {"f": "2"}}]},
            "p": [0.5, 0.5],
            "pdrop": 0.1,
        }
    )
    swapped = json.loads(vw_line)
    swapped["c"]["_multi"].reverse()
    first, second = dsjson([vw_line, json.dumps(swapped)]).records

    ids = [action for action, _ in first.features.actions]
    assert ids[0] != ids[1]
    assert all(action.startswith("action-") for action in ids)
    # The same features have the same id wherever they are
    assert [action for action, _ in second.features.actions] == ids[::-1]
    assert first.features.actions[1] == (ids[1], {"action.f": "2"})
    assert first.features.custom == {"shared.f": "1"}


@pytest.mark.parametrize(
    ("changes", "activated"),
    [
        ({}, True),
        ({"_skipLearn": True}, False),  # VW's learning loop: never activated
        ({"DeferredAction": True, "o": []}, False),
        ({"DeferredAction": True, "o": [{"EventId": "e-1", "ActionTaken": True}]}, True),
        # The decision service's older logs: activated when an outcome says DeferredAction false
        ({"_deferred": True, "DeferredAction": True, "o": None}, False),
        ({"DeferredAction": True, "o": [{"EventId": "e-1", "DeferredAction": False}]}, True),
    ],
)
def test_decisions_never_shown_are_imported_as_not_activated(
    changes: dict[str, Any], activated: bool
) -> None:
    (record,) = dsjson([line(**changes)]).records
    assert record.activated is activated
    assert record.learnable


def test_lines_without_a_decision_are_skipped_and_counted() -> None:
    lines = [
        '[{"checkpoint": 1}]',
        line(),
        "",
        '{"RewardValue":1.0,"EnqueuedTimeUtc":"2026-10-01T08:00:00Z","EventId":"gone"}',
        "   ",
    ]
    parsed = dsjson(lines)
    assert (len(parsed.records), parsed.skipped, parsed.lines) == (1, 2, [2])


def test_windows_line_ends_and_a_byte_order_mark_are_read() -> None:
    parsed = dsjson(["\ufeff" + line() + "\r", line(EventId="e-2") + "\r", ""])
    assert [record.event_id for record in parsed.records] == [f"{DP}:e-1", f"{DP}:e-2"]


def test_event_ids_are_kept_or_made_the_same_way_every_time() -> None:
    lines = [line(EventId="not/url:safe"), line(EventId=None), line(EventId="x" * 129)]
    first = [record.event_id for record in dsjson(lines).records]
    again = [record.event_id for record in dsjson(lines).records]
    elsewhere = parse_dsjson(lines, decision_point="tea", retention=RETENTION, now=NOW)

    assert first == again
    assert all(event_id.startswith(f"{DP}:history-") for event_id in first)
    assert len(set(first)) == 3
    assert not set(first) & {record.event_id for record in elsewhere.records}


def test_every_fixture_line_is_dsjson_that_vw_itself_parses() -> None:
    parser = vw.DSJsonFormatParser(vw.Workspace(["--cb_explore_adf", "--quiet"]))
    lines = [*coffee_dsjson(6).split("\n"), line(_skipLearn=True), line(EventId=None)]
    for text in lines:
        assert len(parser.parse_json(text)) == 1 + len(DRINKS)  # shared + each action


# --- DSJSON: what is refused ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("{not json", None, "not JSON"),
        ('{"_label_cost": NaN}', None, "not JSON"),
        ('"a string"', None, "a JSON object"),
        (line(_label_cost=None), "_label_cost", "not a logged"),
        (line(_outcomes=[{"_a": 1}], _label_cost=None), None, "not CCB"),
        (line(c=None), "c", "must be an object"),
        (with_c(_multi=[]), "c._multi", "non-empty list"),
        (with_c(_slots=[{"_id": "s"}]), "c._slots", "multi-slot"),
        (line(_labelIndex=3, _label_Action=4), "_labelIndex", "names no action"),
        (line(_labelIndex=None, _label_Action=0), "_label_Action", "names no action"),
        (line(_labelIndex=0), "_label_Action", "is not _labelIndex"),
        (line(_labelIndex=None, _label_Action=None), "_labelIndex", "which action"),
        (line(_labelIndex=1.5), "_labelIndex", "whole number"),
        (line(_label_probability=0), "_label_probability", "greater than 0"),
        (line(_label_probability=1.2), "_label_probability", "less than or equal to 1"),
        (line(_label_probability="NaN"), "_label_probability", "valid number"),
        (line(_label_probability=None), "_label_probability", "is required"),
        (line(_label_cost="NaN"), "_label_cost", "valid number"),
        (line(_label_cost=-2e6), "_label_cost", "less than or equal to 1000000"),
        (line(_label_cost=True), "_label_cost", "valid number"),
        (line(Timestamp="2026-10-01T08:00:00"), "Timestamp", "timezone"),
        (line(Timestamp="1999-12-31T08:00:00Z"), "Timestamp", "between the years 2000"),
        (line(Timestamp="2026-11-22T10:00:01Z"), "Timestamp", "in the future"),
        (line(Timestamp=1759305600), "Timestamp", "ISO 8601"),
        (line(pdrop=1), "pdrop", "below 1"),
        (line(_skipLearn="yes"), "_skipLearn", "true or false"),
        (with_c(_text="free text"), "c._text", "_text"),
        (
            with_c(FromUrl=[{"weather": "sunny"}, {"weather": "rainy"}]),
            "c.FromUrl.1.weather",
            "also given at c.FromUrl.0.weather",
        ),
        (with_c(FromUrl=[{"price": 1e13}]), "c.FromUrl.0.price", "within ±1e+12"),
        (with_c(FromUrl=[{"tags": [1, "a"]}]), "c.FromUrl.0.tags", "only strings"),
        (with_c(FromUrl=[{f"f{i}": i for i in range(65)}]), "c", "at most 64"),
        (with_c(FromUrl=[{"x" * 129: 1}]), "c.FromUrl.0." + "x" * 129, "at most 128"),
        (with_c(_multi=[{"_tag": "a"}, {"_tag": "a"}]), "c._multi", "duplicate action ids: a"),
        (with_c(_multi=[{"_tag": 7}, {"_tag": "b"}]), "c._multi.0._tag", "must be a string"),
        (with_c(_multi=[{"_tag": ""}, {"_tag": "x" * 129}]), "c._multi.1._tag", "at most 128"),
        (
            with_c(_multi=[{"_tag": "a", "j": [{"p": "\ud800"}]}, {"_tag": "b"}]),
            "c._multi.0.j.0.p",
            "surrogates not allowed",
        ),
    ],
)
def test_a_malformed_line_is_refused_with_its_number_and_what_is_wrong(
    text: str, field: str | None, message: str
) -> None:
    # Given a good line, the bad one, and another good one
    refused = refusal(dsjson, [line(EventId="ok-1"), text, line(EventId="ok-3")])

    # Then nothing is returned, and the error says which line, where and what
    assert [problem.line for problem in refused.lines or []] == [2]
    (problem,) = refused.lines or []
    assert problem.field == field
    assert message in problem.message, problem
    assert refused.message.startswith("1 of 3 lines cannot be imported")


def test_a_line_with_more_actions_than_the_decision_point_takes_is_refused() -> None:
    actions: list[tuple[str, dict[str, Any]]] = [(f"drink-{i}", {}) for i in range(51)]
    text = personalizer_line("e-1", AT, [], actions, 0, 0.5, 1.0)
    refused = refusal(dsjson, [text])
    assert (refused.lines or [])[0].field == "c._multi"
    assert "at most 50" in (refused.lines or [])[0].message
    assert len(dsjson([text], max_actions=60).records) == 1


def test_an_event_id_twice_in_a_file_is_refused_on_its_second_line() -> None:
    refused = refusal(dsjson, [line(), line(), line(EventId="e-2")])
    assert [(p.line, p.field) for p in refused.lines or []] == [(2, "EventId")]
    assert "also on line 1" in (refused.lines or [])[0].message


def test_every_problem_of_the_file_is_collected_but_at_most_100_listed() -> None:
    lines = [line(EventId=f"e-{n}", _label_probability=0) for n in range(150)]
    refused = refusal(dsjson, lines)
    assert refused.message.startswith("150 of 150 lines cannot be imported")
    assert "the first 100 problems are listed" in refused.message
    assert [p.line for p in refused.lines or []] == list(range(1, 101))


def test_a_file_with_too_many_decisions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_HISTORY_DECISIONS", 3)
    lines = [line(EventId=f"e-{n}") for n in range(5)]
    refused = refusal(dsjson, lines)
    assert "at most 3 decisions" in (refused.lines or [])[-1].message
    assert len(dsjson(lines[:3]).records) == 3


# --- CSV ------------------------------------------------------------------------------------

CSV = """\
event_id,timestamp,action,probability,reward,context.weather,context.code,profile.visits,action.hot-cocoa.price,action.iced.coffee.price
v-1,2026-10-01T08:00:00+02:00,iced.coffee,0.5,1,sunny,007,3,3.5,4
v-2,,hot-cocoa,0.25,0,snowy,,1.5e1,3.5,
"""


def test_a_csv_row_becomes_the_decision_it_logged() -> None:
    first, second = csv(CSV).records

    assert first.event_id == f"{DP}:v-1"
    assert first.decided_at == datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    assert (first.chosen_action, first.probability, first.reward) == ("iced.coffee", 0.5, 1.0)
    # The candidates are the action column's ids, in the order they first appear
    assert first.features == DecisionFeatures(
        context={"month": "oct"},
        custom={"weather": "sunny", "code": "007"},  # numbers as JSON writes them; 007 is text
        profile={"visits": 3},
        actions=[("iced.coffee", {"price": 4}), ("hot-cocoa", {"price": 3.5})],
    )
    # An empty cell is no feature; a row without a timestamp is dated at the import
    assert second.features.custom == {"weather": "snowy"}
    assert second.features.profile == {"visits": 15.0}
    assert second.features.actions == [("iced.coffee", {}), ("hot-cocoa", {"price": 3.5})]
    assert (second.decided_at, second.chosen_index) == (NOW, 1)


def test_csv_candidates_may_come_with_the_file_instead() -> None:
    given = [Action(id="green-tea", features={"price": 2.5}), Action(id="hot-cocoa")]
    text = "action,probability,reward\nhot-cocoa,0.5,1\n"
    (record,) = csv(text, actions=given).records
    assert record.features.actions == [("green-tea", {"price": 2.5}), ("hot-cocoa", {})]
    assert record.chosen_index == 1

    refused = refusal(csv, "action,probability,reward\nlatte,0.5,1\n", actions=given)
    assert [(p.line, p.field) for p in refused.lines or []] == [(2, "action")]
    refused = refusal(csv, CSV, actions=given)
    assert {p.field for p in refused.lines or []} == {
        "action.hot-cocoa.price",
        "action.iced.coffee.price",
    }


def test_csv_rows_spanning_lines_and_a_byte_order_mark_are_read() -> None:
    text = '\ufeffaction,probability,reward,context.note\na,0.5,1,"two\nlines"\nb,0.5,1.5,\n'
    parsed = csv(text)
    first, second = parsed.records
    assert first.features.custom == {"note": "two\nlines"}
    assert second.reward == 1.5
    assert parsed.lines == [2, 4]


def test_csv_event_ids_are_made_the_same_way_every_time() -> None:
    text = "action,probability,reward\na,0.5,1\na,0.5,1\n"
    ids = [record.event_id for record in csv(text).records]
    assert ids == [record.event_id for record in csv(text).records]
    assert len(set(ids)) == 2  # two identical rows are two decisions


@pytest.mark.parametrize(
    ("text", "line_number", "field", "message"),
    [
        ("action,probability\na,0.5\n", 1, "reward", "lacks the reward column"),
        ("action,probability,reward,color\n", 1, "color", "unknown column color"),
        ("action,probability,reward,reward\n", 1, "reward", "named twice"),
        ("action,probability,reward,\n", 1, None, "column 4 has no name"),
        ("action,probability,reward,action.x\na,0.5,1,2\n", 1, "action.x", "action.<action id>"),
        ("action,probability,reward\na,0.5\n", 2, None, "2 cells"),
        ("action,probability,reward\n,0.5,1\n", 2, "action", "is required"),
        ("action,probability,reward\na,half,1\n", 2, "probability", "valid number"),
        ("action,probability,reward\na,0.5,\n", 2, "reward", "is required"),
        ("action,probability,reward\na,0.5,1e7\n", 2, "reward", "less than or equal"),
        ("action,probability,reward,event_id\na,0.5,1,a b\n", 2, "event_id", "match pattern"),
        ("action,probability,reward,timestamp\na,0.5,1,yesterday\n", 2, "timestamp", "datetime"),
        ("action,probability,reward,context.x\na,0.5,1,1e99\n", 2, "context.x", "within ±1e+12"),
        ("action,probability,reward,profile.x\na,0.5,1,1e99\n", 2, "profile.x", "within ±1e+12"),
        (
            "action,probability,reward,action.a.x\na,0.5,1,1e99\n",
            2,
            "action.a.x",
            "within ±1e+12",
        ),
    ],
)
def test_a_malformed_csv_line_is_refused_with_its_number_and_what_is_wrong(
    text: str, line_number: int, field: str | None, message: str
) -> None:
    refused = refusal(csv, text)
    problem = (refused.lines or [])[0]
    assert (problem.line, problem.field) == (line_number, field)
    assert message in problem.message, problem


def test_a_csv_with_more_actions_than_the_decision_point_takes_is_refused() -> None:
    rows = "".join(f"a{i},0.5,1\n" for i in range(4))
    refused = refusal(csv, "action,probability,reward\n" + rows, max_actions=3)
    assert [(p.line, p.field) for p in refused.lines or []] == [(1, "action")]
    assert "4 actions" in (refused.lines or [])[0].message
    assert len(csv("action,probability,reward\n" + rows, max_actions=4).records) == 4
    given = [Action(id=f"a{i}") for i in range(4)]
    refused = refusal(csv, "action,probability,reward\n" + rows, max_actions=3, actions=given)
    assert [(p.line, p.field) for p in refused.lines or []] == [(1, "actions")]


def test_the_longest_action_id_names_an_action_column() -> None:
    text = "action,probability,reward,action.a.b.c\na,0.5,1,1\na.b,0.5,0,1\n"
    record = csv(text).records[0]
    assert record.features.actions == [("a", {}), ("a.b", {"c": 1})]


def test_an_action_never_chosen_is_a_candidate_when_a_column_names_it() -> None:
    text = "action,probability,reward,action.a.price,action.green.tea.price\na,0.5,1,1,2.5\n"
    (record,) = csv(text).records
    # Its id is the column up to the last dot: no action of the action column fits
    assert record.features.actions == [("a", {"price": 1}), ("green.tea", {"price": 2.5})]


# --- Import ---------------------------------------------------------------------------------


class Stores:
    def __init__(self) -> None:
        self.log = MemoryDecisionLog()
        self.registry = MemoryRegistry()
        self.models = MemoryModelStore()

    def import_file(self, content: str, format: str = "dsjson", dp: str = DP, **body: Any) -> Any:
        upload = HistoryImport.model_validate({"format": format, "content": content, **body})
        return import_file(
            dp, upload, log=self.log, registry=self.registry, retention=RETENTION, now=NOW
        )


def test_an_import_logs_every_decision_and_makes_the_decision_point_known() -> None:
    stores = Stores()
    report = stores.import_file(coffee_dsjson(10) + "\n" + line(EventId="x", _skipLearn=True))

    assert report.model_dump() == {
        "decision_point": DP,
        "format": "dsjson",
        "decisions": 11,
        "imported": 11,
        "already_present": 0,
        "not_activated": 1,
        "skipped_lines": 0,
        "first_decided_at": START,
        "last_decided_at": START + timedelta(minutes=9),
    }
    assert len(stores.log.records) == 11
    assert stores.registry.decision_points() == [DP]
    assert stores.log.records[f"{DP}:visit-00003"].decision_point == DP


def test_importing_the_same_file_again_changes_nothing() -> None:
    stores = Stores()
    stores.import_file(coffee_csv(10), "csv")
    before = dict(stores.log.records)

    again = stores.import_file(coffee_csv(10), "csv")

    assert (again.imported, again.already_present) == (0, 10)
    assert stores.log.records == before


def test_a_crashed_import_is_finished_by_importing_again() -> None:
    # Given an import that wrote some decisions and then failed
    stores = Stores()
    put = stores.log.put
    calls = 0

    def failing_put(record: DecisionRecord) -> None:
        nonlocal calls
        calls += 1
        if calls > 4:
            raise ConnectionError("the network went away")
        put(record)

    stores.log.put = failing_put  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        stores.import_file(coffee_dsjson(10))
    # Then retrain does not know the decision point yet: nothing half-imported is learned
    assert stores.registry.decision_points() == []

    # When the file is imported again
    stores.log.put = put  # type: ignore[method-assign]
    report = stores.import_file(coffee_dsjson(10))

    # Then the rest is imported and the decision point is known
    assert (report.imported, report.already_present) == (6, 4)
    assert len(stores.log.records) == 10
    assert stores.registry.decision_points() == [DP]


def test_a_decision_written_meanwhile_by_a_concurrent_import_counts_as_present() -> None:
    stores = Stores()
    put = stores.log.put

    def racing_put(record: DecisionRecord) -> None:
        put(record)
        raise DuplicateEvent("the other import was first")

    stores.log.put = racing_put  # type: ignore[method-assign]
    report = stores.import_file(coffee_dsjson(3))
    assert (report.imported, report.already_present) == (0, 3)


@pytest.mark.parametrize(
    "current",
    [
        CurrentModel(DP, 1, "models/coffee/1.vw", NOW - timedelta(hours=1)),
        CurrentModel(DP, None, None, NOW - timedelta(hours=1)),  # retrained, nothing learned
    ],
)
def test_a_decision_point_that_was_retrained_refuses_history(current: CurrentModel) -> None:
    stores = Stores()
    stores.registry.pointers[DP] = current
    with pytest.raises(AlreadyTrained) as refused:
        stores.import_file(coffee_dsjson(3))
    assert refused.value.status == 409
    assert "new decision point" in refused.value.message
    assert stores.log.records == {}


def change() -> SettingsChange:
    return SettingsChange(at=NOW, principal="tester", changes={}, new_lineage=False)


def test_a_registered_decision_point_not_yet_retrained_takes_history_with_its_limits() -> None:
    stores = Stores()
    stores.registry.configure(DP, DecisionPointSettings(max_actions=2), change())

    with pytest.raises(InvalidHistory, match="1 of 1 lines"):
        stores.import_file(line())  # three actions
    stores.registry.configure(DP, DecisionPointSettings(max_actions=3), change())
    assert stores.import_file(line()).imported == 1


def test_the_same_event_ids_in_another_decision_point_are_its_own() -> None:
    stores = Stores()
    stores.import_file(coffee_dsjson(3), dp="tea")
    assert stores.import_file(coffee_dsjson(5)).imported == 5
    by_point = Counter(r.decision_point for r in stores.log.records.values())
    assert by_point == {"tea": 3, DP: 5}
    assert stores.registry.decision_points() == [DP, "tea"]


def test_dsjson_takes_no_actions_and_a_file_needs_a_decision() -> None:
    stores = Stores()
    with pytest.raises(InvalidRequest, match="no actions") as refused:
        stores.import_file(line(), actions=[{"id": "a"}])
    assert refused.value.field == "actions"
    with pytest.raises(InvalidRequest, match="no decisions"):
        stores.import_file("action,probability,reward\n", "csv")
    with pytest.raises(InvalidRequest, match="no decisions"):
        stores.import_file('{"RewardValue": 1, "EventId": "e"}')


def test_retrain_learns_the_imported_history_and_prefers_what_it_rewarded() -> None:
    # Given 600 visits logged by a uniform policy, where snowy visitors bought hot cocoa and
    # sunny ones iced coffee, imported as one file with a few lines never shown
    stores = Stores()
    never_shown = [line(EventId=f"hidden-{n}", _skipLearn=True) for n in range(5)]
    report = stores.import_file("\n".join([coffee_dsjson(600), *never_shown]))
    loop = LoopSettings(reward_wait=timedelta(minutes=10))

    # When the next scheduled retrain runs
    retrained = trainer.retrain(
        DP, log=stores.log, store=stores.models, registry=stores.registry, loop=loop, now=NOW
    )

    # Then it learned the imported decisions that were shown, in one new version, but for the
    # newest fifth, held out to score it (the next run learns them)
    assert (retrained.status, retrained.model_version) == ("trained", "1")
    held_out = retrained.evaluation["candidate"]["n"]
    assert retrained.decisions_learned + held_out == report.imported - report.not_activated
    assert (retrained.decisions_learned, held_out) == (480, 120)
    (version,) = stores.registry.versions(DP)
    assert version.decisions_learned == 480
    # And the model prefers, for each weather, what the history rewarded
    current = stores.registry.current(DP)
    assert current is not None and current.model_key is not None
    policy = Policy(loop.exploration, model=stores.models.get(current.model_key))
    for weather, best in BEST.items():
        features = DecisionFeatures({}, {"weather": weather}, {}, list(DRINKS))
        pmf = policy.pmf(features)
        assert DRINKS[pmf.index(max(pmf))][0] == best, (weather, pmf)
        assert max(pmf) > 0.8


def test_import_history_refuses_once_retrained_too() -> None:
    stores = Stores()
    parsed = dsjson([line()])
    stores.registry.pointers[DP] = CurrentModel(DP, None, None, NOW)
    with pytest.raises(AlreadyTrained):
        import_history(DP, parsed, log=stores.log, registry=stores.registry, now=NOW)
