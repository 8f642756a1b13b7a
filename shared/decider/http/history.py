"""Warm starts: logged history as the first decisions of a new decision point.

Two formats. **DSJSON**, one decision a line, as Vowpal Wabbit's learning loop and Azure
Personalizer log them (``_label_cost``, ``_label_probability``, ``_labelIndex``, ``Timestamp``,
``EventId``, and ``c`` with the shared features and ``_multi``, the actions). **CSV**: a header
row with ``action``, ``probability``, ``reward``, optionally ``event_id`` and ``timestamp``, and
feature columns ``context.<name>``, ``profile.<name>`` and ``action.<action id>.<name>``.

Each decision is validated as a live one is: it becomes a DecideRequest (so the same limits
hold on ids, actions and features), its probability is in (0, 1] and its reward in the
reward's range. The problems of the whole file are collected line by line, and a file
yields every one of its decisions or none (InvalidHistory lists the lines at fault).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from decider.context.enrichment import enrich
from decider.errors import (
    AlreadyTrained,
    DuplicateEvent,
    InvalidHistory,
    InvalidRequest,
    LineProblem,
)
from decider.http.personalizer import Flattened, flatten
from decider.learning.featurize import features_of
from decider.records import CurrentModel, DecisionLog, DecisionRecord, Registry, scoped_event_id
from decider.schemas import (
    DEFAULT_MAX_ACTIONS,
    Action,
    DecideRequest,
    EventId,
    HistoryImport,
    ImportReport,
    Probability,
    RewardValue,
)

Format = Literal["dsjson", "csv"]
# Each decision is one conditional write: 10,000 at 8 at a time take about 8 s on DynamoDB,
# well inside the API's 30 s. A bigger history is imported in several files.
MAX_HISTORY_DECISIONS = 10_000
MAX_LISTED_PROBLEMS = 100
WRITERS = 8  # boto3's connection pool holds 10

_EVENT_ID = TypeAdapter(EventId)
_PROBABILITY = TypeAdapter(Probability)
_REWARD = TypeAdapter(RewardValue)
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(?P<fraction>\.\d+)?(?P<exponent>[eE][+-]?\d+)?")
_CSV_REQUIRED = ("action", "probability", "reward")
_CSV_OPTIONAL = ("event_id", "timestamp")

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class History:
    """A file's decisions, each with the line it starts on."""

    format: Format
    records: list[DecisionRecord]
    lines: list[int]
    skipped: int = 0  # lines that hold no decision (DSJSON rewards without it, checkpoints)


@dataclass
class _Logged:
    """One decision as a file tells it, before it is validated."""

    format: Format
    line: int
    text: str  # the line itself, for an event id when the file has none
    event_id: Any
    timestamp: Any
    custom: dict[str, Any]
    profile: dict[str, Any]
    actions: list[dict[str, Any]]
    chosen: int
    probability: Any
    reward: Any
    activated: bool
    target: Callable[[Loc], str]  # a validation error's location as the file's field
    probability_field: str
    reward_field: str


@dataclass
class _Problems:
    found: list[LineProblem] = field(default_factory=list)
    lines: set[int] = field(default_factory=set)
    unlisted: int = 0

    def add(self, line: int, message: str, field: str | None = None) -> None:
        self.lines.add(line)
        if len(self.found) < MAX_LISTED_PROBLEMS:
            self.found.append(LineProblem(line, message, field))
        else:
            self.unlisted += 1

    def raise_any(self, total: int | None) -> None:
        """InvalidHistory if there are problems; ``total``: the lines read, None for the header."""
        if not self.lines:
            return
        what = (
            "the header row is not valid"
            if total is None
            else f"{len(self.lines)} of {total} lines cannot be imported"
        )
        listed = f" (the first {len(self.found)} problems are listed)" if self.unlisted else ""
        raise InvalidHistory(
            f"{what}, so nothing was imported{listed}",
            sorted(self.found, key=lambda problem: problem.line),
        )


class _Refused(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


# --- DSJSON ---------------------------------------------------------------------------------


def parse_dsjson(
    lines: Iterable[str],
    *,
    decision_point: str,
    retention: timedelta,
    now: datetime,
    max_actions: int = DEFAULT_MAX_ACTIONS,
) -> History:
    """Decisions of a DSJSON log, one JSON object a line (line numbers count from 1).

    Shared features are every key of ``c`` but ``_multi`` and, as VW reads them, keys starting
    with ``_``; they are the shop's context features (``x``). An object is a namespace whose
    features get dotted names (``Geo.country``); a list of objects holds feature objects, as
    Personalizer logs a rank request's ``contextFeatures`` (``FromUrl``) and an action's
    ``features`` (``j``), flattened as the Personalizer routes do. An action's id is its
    ``_tag`` (Personalizer's and VW's decision service's), else ``action-`` and a digest of its
    features. The reward is ``-_label_cost``; ``_skipLearn``, or a ``DeferredAction`` never
    activated in ``o``, imports the decision as never shown.
    """
    problems = _Problems()
    logged: list[_Logged] = []
    total = skipped = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r").removeprefix("\ufeff" if number == 1 else "")
        if not text.strip():
            continue
        total += 1
        try:
            decision = _dsjson_decision(number, text)
        except _Refused as refused:
            problems.add(number, refused.message, refused.field)
            continue
        if decision is None:
            skipped += 1
        else:
            logged.append(decision)
        _check_size(len(logged), number, problems)
    return _history(
        "dsjson", logged, problems, total, decision_point, retention, now, max_actions, skipped
    )


def _dsjson_decision(line: int, text: str) -> _Logged | None:
    if text.lstrip().startswith("["):
        return None  # a checkpoint line of the decision service's logs: no decision
    try:
        event = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as failure:
        raise _Refused(f"not JSON: {failure}") from None
    if not isinstance(event, dict):
        raise _Refused("a DSJSON line is a JSON object")
    if "_label_cost" not in event:
        if "RewardValue" in event:
            return None  # a reward whose decision is not in the log: nothing to learn
        if "_outcomes" in event or "_label_ca" in event:
            raise _Refused(
                "only cb and cb_explore_adf decisions can be imported, not CCB, slates or "
                "continuous actions"
            )
        raise _Refused("no _label_cost: not a logged (and joined) cb decision", "_label_cost")
    c = event.get("c")
    if not isinstance(c, dict):
        raise _Refused("c, the decision's features, must be an object", "c")
    multi = c.get("_multi")
    if not isinstance(multi, list) or not multi or not all(isinstance(a, dict) for a in multi):
        raise _Refused("c._multi, the actions, must be a non-empty list of objects", "c._multi")
    if "_slots" in c:
        raise _Refused("multi-slot (CCB, slates) decisions cannot be imported", "c._slots")
    pdrop = event.get("pdrop", 0)
    if not _is_number(pdrop) or not 0 <= pdrop < 1:
        raise _Refused("pdrop must be a number at least 0 and below 1", "pdrop")
    shared = _flat(c, "c")
    actions, sources = [], []
    for index, action in enumerate(multi):
        where = f"c._multi.{index}"
        tag = action.get("_tag")
        if tag is not None and not isinstance(tag, str):
            raise _Refused("an action's _tag (its id) must be a string", f"{where}._tag")
        flat = _flat(action, where, personalizer_id=tag)
        action_id = tag if tag else _action_digest(flat.features)
        actions.append({"id": action_id, "features": flat.features})
        sources.append(flat.sources)
    cost = event["_label_cost"]
    return _Logged(
        format="dsjson",
        line=line,
        text=text,
        event_id=event.get("EventId"),
        timestamp=event.get("Timestamp"),
        custom=shared.features,
        profile={},
        actions=actions,
        chosen=_chosen_index(event, len(multi)),
        probability=event.get("_label_probability"),
        reward=-cost if _is_number(cost) else cost,
        activated=_activated(event),
        target=lambda loc: _dsjson_target(loc, shared.sources, sources),
        probability_field="_label_probability",
        reward_field="_label_cost",
    )


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _flat(
    namespace: Mapping[str, Any], where: str, personalizer_id: str | None = None
) -> Flattened:
    """One namespace's features as the Personalizer routes flatten them, sources as paths of
    the DSJSON line. Personalizer adds ``{"constant": 1, "id": <action id>}`` to an action as
    namespace ``i``: that is left out, as the model has its own action id namespace."""
    objects: list[dict[str, Any]] = []
    prefixes: list[str] = []
    for key, value in namespace.items():
        if key == "_text":
            raise _Refused("VW's free-text _text features cannot be imported", f"{where}._text")
        if key.startswith("_"):
            continue  # VW reads no feature from a key starting with _
        if key == "i" and personalizer_id and value == {"constant": 1, "id": personalizer_id}:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value):
                objects.append(_visible(item))
                prefixes.append(f"{where}.{key}.{index}")
        else:
            objects.append({key: _visible(value)})
            prefixes.append(where)
    try:
        flat = flatten(objects, where)
    except InvalidRequest as refused:
        path = refused.field or where
        message = re.sub(  # paths in the message too, e.g. where a feature is also given
            rf"{re.escape(where)}\.\d+",
            lambda found: _file_path(found[0], where, prefixes),
            refused.message.removeprefix(f"{path}: "),
        )
        raise _Refused(message, _file_path(path, where, prefixes)) from None
    flat.sources = {name: _file_path(p, where, prefixes) for name, p in flat.sources.items()}
    return flat


def _visible(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _visible(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_visible(item) for item in value]
    return value


def _file_path(path: str, where: str, prefixes: list[str]) -> str:
    """flatten's ``<where>.<object index>.<rest>`` as the path in the DSJSON line."""
    index, _, rest = path.removeprefix(f"{where}.").partition(".")
    if not path.startswith(f"{where}.") or not index.isdigit() or int(index) >= len(prefixes):
        return path
    return f"{prefixes[int(index)]}.{rest}" if rest else prefixes[int(index)]


def _action_digest(features: Mapping[str, Any]) -> str:
    """A stable id for an action logged without one: the same features, the same id."""
    canonical = json.dumps(features, sort_keys=True, ensure_ascii=False)
    return "action-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _chosen_index(event: Mapping[str, Any], actions: int) -> int:
    """``_labelIndex`` counts from 0, ``_label_Action`` from 1; either will do, both must agree."""
    index: Any = event.get("_labelIndex")
    action: Any = event.get("_label_Action")
    for name, value in (("_labelIndex", index), ("_label_Action", action)):
        if value is not None and not _is_integer(value):
            raise _Refused(f"{name} must be a whole number", name)
    if index is None and action is None:
        raise _Refused("_labelIndex (or _label_Action) says which action was chosen", "_labelIndex")
    if index is not None and action is not None and action != index + 1:
        raise _Refused(f"_label_Action {action} is not _labelIndex {index} + 1", "_label_Action")
    where = "_labelIndex" if index is not None else "_label_Action"
    chosen = int(index) if index is not None else int(action) - 1
    if not 0 <= chosen < actions:
        raise _Refused(f"{where} names no action of c._multi, which has {actions}", where)
    return chosen


def _activated(event: Mapping[str, Any]) -> bool:
    """Shown, so learned: not marked _skipLearn, and if deferred, activated later (an ``o``
    outcome with ActionTaken, or in older logs DeferredAction false)."""
    skip = event.get("_skipLearn", False)
    if not isinstance(skip, bool):
        raise _Refused("_skipLearn must be true or false", "_skipLearn")
    deferred = event.get("DeferredAction") is True or event.get("_deferred") is True
    outcomes = event["o"] if isinstance(event.get("o"), list) else []
    activated_later = any(
        isinstance(o, dict) and (o.get("ActionTaken") is True or o.get("DeferredAction") is False)
        for o in outcomes
    )
    return not skip and (not deferred or activated_later)


def _dsjson_target(
    loc: Loc, shared: Mapping[str, str], actions: Sequence[Mapping[str, str]]
) -> str:
    head, rest = (loc[0], loc[1:]) if loc else ("", ())
    if head == "event_id":
        return "EventId"
    if head == "context" and rest[:1] == ("timestamp",):
        return "Timestamp"
    if head == "context":
        return shared.get(str(rest[1]), "c") if len(rest) > 1 else "c"
    if head == "actions" and len(rest) >= 2 and isinstance(rest[0], int):
        if rest[1] == "id":
            return f"c._multi.{rest[0]}._tag"
        if rest[1] == "features" and len(rest) > 2:
            return actions[rest[0]].get(str(rest[2]), f"c._multi.{rest[0]}")
        return f"c._multi.{rest[0]}"
    return "c._multi" if head == "actions" else ".".join(map(str, loc))


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(
    text: str,
    *,
    decision_point: str,
    retention: timedelta,
    now: datetime,
    max_actions: int = DEFAULT_MAX_ACTIONS,
    actions: Sequence[Action] | None = None,
) -> History:
    """Decisions of a CSV file: a header row, then one decision a row.

    ``action`` is the chosen action's id, ``probability`` its logged probability, ``reward``
    its reward; ``event_id`` and ``timestamp`` (ISO 8601 with an offset) are optional. Every
    row's candidate actions are ``actions`` if given, else every action the file names (in
    the action column, or in an ``action.<id>.<name>`` column of its features, which
    ``actions`` replaces). Numbers are read as numbers, anything else as text,
    and an empty cell is no feature. A row without a timestamp is dated ``now`` and gets no
    derived context (there is no time to derive it from).
    """
    problems = _Problems()
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(rows, [])]
    except csv.Error as failure:
        raise InvalidHistory("the header row is not CSV", [LineProblem(1, str(failure))]) from None
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # a spreadsheet's byte order mark
    _check_header(header, problems, given_actions=actions is not None)
    problems.raise_any(None)
    table, total = [], 0
    start = rows.line_num + 1
    try:
        for row in rows:
            line, start = start, rows.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            total += 1
            if len(row) != len(header):
                problems.add(line, f"{len(row)} cells, but the header names {len(header)}")
            else:
                table.append((line, dict(zip(header, row, strict=True))))
            _check_size(len(table), line, problems)
    except csv.Error as failure:
        problems.add(start, f"not CSV: {failure}")
    candidates, columns = _candidates(table, header, actions, max_actions, problems)
    problems.raise_any(total + 1)
    logged = [
        _csv_decision(line, cells, candidates, actions, columns, problems) for line, cells in table
    ]
    return _history(
        "csv",
        [decision for decision in logged if decision is not None],
        problems,
        total + 1,  # and the header
        decision_point,
        retention,
        now,
        max_actions,
    )


def _check_header(header: list[str], problems: _Problems, given_actions: bool) -> None:
    for column in _CSV_REQUIRED:
        if column not in header:
            problems.add(1, f"the header lacks the {column} column", column)
    for index, name in enumerate(header):
        if not name:
            problems.add(1, f"column {index + 1} has no name")
        elif header.index(name) != index:
            problems.add(1, f"column {name} is named twice", name)
        elif name.startswith("action.") and given_actions:
            problems.add(1, "action features come from the actions given with the file", name)
        elif name not in _CSV_REQUIRED + _CSV_OPTIONAL and not name.startswith(
            ("context.", "profile.", "action.")
        ):
            problems.add(
                1,
                f"unknown column {name}: columns are {', '.join(_CSV_REQUIRED + _CSV_OPTIONAL)}"
                ", context.<name>, profile.<name> and action.<action id>.<name>",
                name,
            )


def _candidates(
    table: list[tuple[int, dict[str, str]]],
    header: list[str],
    actions: Sequence[Action] | None,
    max_actions: int,
    problems: _Problems,
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Every row's candidate actions, and the ``action.<id>.<name>`` columns as (action id,
    feature name). Without ``actions``: the action column's ids, in the order they first
    appear, then any action that only a feature column names. A column's action is the
    longest of the action column's ids that fits, else the column up to its last dot."""
    chosen = list(dict.fromkeys(cells["action"] for _, cells in table if cells["action"]))
    columns = {}
    for column in header:
        rest = column.removeprefix("action.")
        if rest == column:
            continue
        fits = [i for i in chosen if rest.startswith(f"{i}.") and len(rest) > len(i) + 1]
        action, _, name = (
            (max(fits, key=len), ".", rest.removeprefix(f"{max(fits, key=len)}."))
            if fits
            else rest.rpartition(".")
        )
        if not action or not name:
            problems.add(1, "an action's feature column is action.<action id>.<name>", column)
        else:
            columns[column] = (action, name)
    candidates = list(dict.fromkeys([*chosen, *(action for action, _ in columns.values())]))
    if actions is not None:
        candidates = [action.id for action in actions]  # and the header has no action. column
    if len(candidates) > max_actions:
        problems.add(
            1,
            f"{len(candidates)} actions, each a candidate of every decision: this decision "
            f"point takes at most {max_actions}",
            "action" if actions is None else "actions",
        )
    return candidates, columns


def _csv_decision(
    line: int,
    cells: dict[str, str],
    candidates: list[str],
    actions: Sequence[Action] | None,
    columns: dict[str, tuple[str, str]],
    problems: _Problems,
) -> _Logged | None:
    chosen = cells["action"]
    if chosen not in candidates:
        message = "is required" if not chosen else f"{chosen!r} is not one of the given actions"
        problems.add(line, message, "action")
        return None
    if actions is not None:
        candidate_actions = [action.model_dump() for action in actions]
    else:
        features: dict[str, dict[str, Any]] = {action: {} for action in candidates}
        for column, (action, name) in columns.items():
            if cells[column]:
                features[action][name] = _cell(cells[column])
        candidate_actions = [{"id": i, "features": features[i]} for i in candidates]
    return _Logged(
        format="csv",
        line=line,
        text=json.dumps(cells, ensure_ascii=False),
        event_id=cells.get("event_id") or None,
        timestamp=cells.get("timestamp") or None,
        custom=_prefixed(cells, "context."),
        profile=_prefixed(cells, "profile."),
        actions=candidate_actions,
        chosen=candidates.index(chosen),
        probability=_cell(cells["probability"]) if cells["probability"] else None,
        reward=_cell(cells["reward"]) if cells["reward"] else None,
        activated=True,
        target=lambda loc: _csv_target(loc, candidates, given=actions is not None),
        probability_field="probability",
        reward_field="reward",
    )


def _cell(text: str) -> str | int | float:
    """A number if it is written as JSON writes one (so ``007``, ``nan`` and ``1,5`` stay
    text), else the text as it is."""
    found = _NUMBER.fullmatch(text.strip())
    if not found:
        return text
    return float(found[0]) if found["fraction"] or found["exponent"] else int(found[0])


def _prefixed(cells: Mapping[str, str], prefix: str) -> dict[str, Any]:
    return {
        name.removeprefix(prefix): _cell(value)
        for name, value in cells.items()
        if name.startswith(prefix) and value
    }


def _csv_target(loc: Loc, candidates: list[str], given: bool) -> str:
    head, rest = (str(loc[0]), loc[1:]) if loc else ("", ())
    if head == "context" and rest[:1] == ("timestamp",):
        return "timestamp"
    if head == "context":
        return f"context.{rest[1]}" if len(rest) > 1 else "context"
    if head == "profile":
        return f"profile.{rest[0]}" if rest else "profile"
    if head == "actions" and len(rest) > 2 and rest[1] == "features" and not given:
        return f"action.{candidates[int(rest[0])]}.{rest[2]}"
    return "action" if head == "actions" else head


# --- Both: validation as a live decision, and the records -----------------------------------


def _history(
    format: Format,
    logged: list[_Logged],
    problems: _Problems,
    total: int,
    decision_point: str,
    retention: timedelta,
    now: datetime,
    max_actions: int,
    skipped: int = 0,
) -> History:
    expires_at = int((now + retention).timestamp())
    records: list[DecisionRecord] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for decision in logged:
        record = _record(decision, decision_point, expires_at, now, max_actions, problems)
        if record is None:
            continue
        if record.event_id in seen:
            problems.add(
                decision.line,
                f"event id {record.event_id!r} is also on line {seen[record.event_id]}",
                decision.target(("event_id",)),
            )
            continue
        seen[record.event_id] = decision.line
        records.append(record)
        lines.append(decision.line)
    problems.raise_any(total)
    return History(format, records, lines, skipped)


def _record(
    decision: _Logged,
    decision_point: str,
    expires_at: int,
    now: datetime,
    max_actions: int,
    problems: _Problems,
) -> DecisionRecord | None:
    """The decision as the log keeps it, or None after adding its problems."""
    count = len(problems.lines)
    body: dict[str, Any] = {
        "decision_point": decision_point,
        "event_id": _event_id(decision, decision_point),
        "context": {"features": decision.custom},
        "profile": decision.profile,
        "actions": decision.actions,
    }
    if decision.timestamp is not None:
        body["context"]["timestamp"] = decision.timestamp
    request = _validated(DecideRequest, body, decision, problems, decision.target)
    probability = _validated(
        _PROBABILITY, decision.probability, decision, problems, decision.probability_field
    )
    reward = _validated(_REWARD, decision.reward, decision, problems, decision.reward_field)
    if request is None or probability is None or reward is None:
        return None
    if len(request.actions) > max_actions:
        problems.add(
            decision.line,
            f"{len(request.actions)} actions: this decision point takes at most {max_actions}",
            decision.target(("actions",)),
        )
    timestamp = request.context.timestamp
    decided_at = timestamp.astimezone(UTC) if timestamp else now
    if decided_at > now:
        problems.add(decision.line, "is in the future", decision.target(("context", "timestamp")))
    if len(problems.lines) > count:
        return None
    # Derived context as decide derives it at the decision's time (no geo in a history).
    context_used = enrich(request.context, decided_at) if timestamp else {}
    return DecisionRecord(
        event_id=scoped_event_id(decision_point, request.event_id or ""),
        decision_point=decision_point,
        decided_at=decided_at,
        features=features_of(request, context_used, request.actions),
        chosen_index=decision.chosen,
        probability=probability,
        model_version=None,
        learnable=True,
        activated=decision.activated,
        expires_at=expires_at,
        reward=reward,
    )


def _validated(
    schema: Any,
    value: Any,
    decision: _Logged,
    problems: _Problems,
    target: Callable[[Loc], str] | str,
) -> Any:
    """``value`` validated by a model or a TypeAdapter; None after adding its problems."""
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(value)
        return schema.model_validate(value)
    except ValidationError as invalid:
        for detail in invalid.errors():
            where = target if isinstance(target, str) else target(tuple(detail["loc"]))
            problems.add(decision.line, _message(detail), where)
        return None


def _message(detail: Mapping[str, Any]) -> str:
    if detail.get("type") == "missing" or detail.get("input", "") is None:
        return "is required"
    return str(detail.get("msg", "is invalid")).removeprefix("Value error, ")


def _event_id(decision: _Logged, decision_point: str) -> Any:
    """The file's event id if it is a valid one; for DSJSON, one made from an invalid one (the
    decision service allowed other characters and lengths); else one made from the line."""
    given = decision.event_id
    if given is None:
        seed = f"{decision_point}\n{decision.line}\n{decision.text}"
    elif decision.format == "dsjson" and isinstance(given, str):
        try:
            return _EVENT_ID.validate_python(given)
        except ValidationError:
            seed = f"{decision_point}\nEventId\n{given}"
    else:
        return given  # validated (and refused if need be) with the decision
    return "history-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def _check_size(decisions: int, line: int, problems: _Problems) -> None:
    if decisions == MAX_HISTORY_DECISIONS + 1:
        problems.add(line, f"a file holds at most {MAX_HISTORY_DECISIONS} decisions: split it")
        problems.raise_any(line)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- Import ---------------------------------------------------------------------------------


def import_file(
    decision_point: str,
    upload: HistoryImport,
    *,
    log: DecisionLog,
    registry: Registry,
    retention: timedelta,
    now: datetime,
) -> ImportReport:
    """Validate an uploaded history file against the decision point's limits and import it."""
    current = _refuse_trained(decision_point, registry)
    max_actions = current.settings.max_actions if current else DEFAULT_MAX_ACTIONS
    common: dict[str, Any] = dict(
        decision_point=decision_point, retention=retention, now=now, max_actions=max_actions
    )
    if upload.format == "dsjson":
        if upload.actions is not None:
            raise InvalidRequest("a DSJSON line lists its own actions: send no actions", "actions")
        history = parse_dsjson(upload.content.split("\n"), **common)
    else:
        history = parse_csv(upload.content, actions=upload.actions, **common)
    if upload.event_ids == "new":
        history = _new_event_ids(history, decision_point)
    return import_history(decision_point, history, log=log, registry=registry, now=now)


def _new_event_ids(history: History, decision_point: str) -> History:
    """Each decision under an event id of its own, made from the decision point and the
    file's id: the log of one decision point replays into another of the same stack, and
    importing the same file again is still a repeat."""

    def renamed(record: DecisionRecord) -> DecisionRecord:
        seed = f"{decision_point}\nreplay\n{record.event_id}"
        event_id = "history-" + hashlib.sha256(seed.encode()).hexdigest()[:32]
        return dataclasses.replace(record, event_id=scoped_event_id(decision_point, event_id))

    return dataclasses.replace(history, records=[renamed(r) for r in history.records])


def import_history(
    decision_point: str, history: History, *, log: DecisionLog, registry: Registry, now: datetime
) -> ImportReport:
    """Write a history's decisions to the log of a decision point that has never been trained,
    then register it, so that the next retrain learns them. Decisions it has logged already
    (a repeated import) are left as they are."""
    _refuse_trained(decision_point, registry)
    if not history.records:
        raise InvalidRequest("the file holds no decisions", "content")
    # Event ids are scoped to the decision point: another's can never be among them.
    logged = log.decision_points_of([record.event_id for record in history.records])
    new = [record for record in history.records if record.event_id not in logged]
    with ThreadPoolExecutor(max_workers=WRITERS) as writers:
        written = sum(writers.map(lambda record: _put(log, record), new))
    # Registered last: retrain never sees the decision point halfway through its import.
    registry.register(decision_point, now)
    times = [record.decided_at for record in history.records]
    return ImportReport(
        decision_point=decision_point,
        format=history.format,
        decisions=len(history.records),
        imported=written,
        already_present=len(history.records) - written,
        not_activated=sum(not record.activated for record in history.records),
        skipped_lines=history.skipped,
        first_decided_at=min(times),
        last_decided_at=max(times),
    )


def _put(log: DecisionLog, record: DecisionRecord) -> bool:
    try:
        log.put(record)
    except DuplicateEvent:  # the same file imported at the same time
        return False
    return True


def _refuse_trained(decision_point: str, registry: Registry) -> CurrentModel | None:
    current = registry.current(decision_point)
    if current is not None and (current.version is not None or current.watermark is not None):
        raise AlreadyTrained(
            f"decision point {decision_point!r} has been retrained (up to "
            f"{current.watermark.isoformat() if current.watermark else 'a model'}): history "
            "before that would never be learned. Import history into a new decision point, "
            "before its first retrain.",
            "decision_point",
        )
    return current
