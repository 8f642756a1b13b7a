"""Step Functions' states, run here as AWS would run them (moto keeps state machines but runs
none): the subset the template uses - Task (lambda:invoke, with ResultSelector and
OutputPath), Choice (StringEquals, BooleanEquals), Succeed, an inline Map over an array (its
items side by side, up to its MaxConcurrency), and a distributed Map that reads a list from S3
and batches it (the batches one after another)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3

from infra.template import ACCOUNT, REGION, StateMachineSpec

Invoke = Callable[[str, Any], Any]  # a function's logical id and payload: its answer


@dataclass(frozen=True)
class Run:
    """An execution's output, and what each of its tasks answered, in the order they ended
    (on AWS, the TaskSucceeded events of its history: the output keeps what the definition
    selects, under Step Functions' 256 kB limit)."""

    output: Any
    answers: list[Any]


def execute(spec: StateMachineSpec, execution_input: Any, *, invoke: Invoke, at_once: int) -> Run:
    """One execution of the state machine. ``at_once`` bounds the items an inline Map runs
    side by side, whatever its MaxConcurrency."""
    context = {"Execution": {"Id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:"
                                   f"{spec.logical_id}:{uuid.uuid4()}"}}  # fmt: skip
    execution = _Execution(spec, invoke, at_once, context, answers=[])
    output = execution.run(spec.definition, execution_input)
    return Run(output, execution.answers)


@dataclass(frozen=True)
class _Execution:
    spec: StateMachineSpec
    invoke: Invoke
    at_once: int
    context: dict[str, Any]
    answers: list[Any]  # appended to by the Map's threads (list.append is atomic)

    def run(self, machine: dict[str, Any], data: Any) -> Any:
        states, name = machine["States"], machine["StartAt"]
        while True:
            state = states[name]
            kind = state["Type"]
            if kind == "Choice":
                name = _choose(state, data)
                continue
            if kind == "Succeed":
                return data
            if kind == "Task":
                result = self._task(state, data)
            elif kind == "Map" and "ItemReader" in state:
                return self._distributed_map(state, data)
            elif kind == "Map":
                result = self._inline_map(state, data)
            else:
                raise NotImplementedError(f"the twin runs no {kind} state ({name})")
            selector = state.get("ResultSelector")
            if selector:
                result = _selected(selector, result, self.context)
            data = _path(result, state.get("OutputPath", "$"))
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(self, state: dict[str, Any], data: Any) -> Any:
        parameters = state["Parameters"]
        function = self.spec.functions[parameters["FunctionName"]]
        payload = parameters.get("Payload", data)
        if "Payload.$" in parameters:
            payload = _path(data, parameters["Payload.$"])
        elif isinstance(payload, dict):  # its "key.$" fields are paths into the state's input
            payload = _selected(payload, data, {})
        answer = self.invoke(function, payload)
        self.answers.append(answer)
        return {"Payload": answer}

    def _inline_map(self, state: dict[str, Any], data: Any) -> list[Any]:
        items = _path(data, state.get("ItemsPath", "$")) or []
        selector = state.get("ItemSelector")

        def each(index: int) -> Any:
            item = {**self.context, "Map": {"Item": {"Index": index, "Value": items[index]}}}
            given = _selected(selector, data, item) if selector else items[index]
            return self.run(state["ItemProcessor"], given)

        workers = max(1, min(int(state.get("MaxConcurrency") or self.at_once), self.at_once))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(each, range(len(items))))

    def _distributed_map(self, state: dict[str, Any], execution_input: Any) -> dict[str, Any]:
        reader = state["ItemReader"]
        parameters = reader["Parameters"]
        key = _path(execution_input, parameters["Key.$"])
        body = (
            boto3.client("s3", region_name=REGION)
            .get_object(Bucket=parameters["Bucket"], Key=key)["Body"]
            .read()
            .decode("utf-8")
        )
        if reader["ReaderConfig"]["InputType"] == "CSV":
            rows: list[Any] = list(csv.DictReader(io.StringIO(body)))
        else:
            rows = [json.loads(line) for line in body.splitlines() if line.strip()]
        items = [{"index": index, "value": row} for index, row in enumerate(rows)]
        batcher = state["ItemBatcher"]
        size = int(batcher["MaxItemsPerBatch"])
        batch_input = {k.removesuffix(".$"): _path(execution_input, v, self.context)
                       for k, v in batcher.get("BatchInput", {}).items()}  # fmt: skip
        processor = state["ItemProcessor"]
        task = processor["States"][processor["StartAt"]]
        function = self.spec.functions[task["Parameters"]["FunctionName"]]
        results = []
        for start in range(0, len(items), size):
            payload = {"Items": items[start : start + size], "BatchInput": batch_input}
            answer = {"Payload": self.invoke(function, payload)}
            self.answers.append(answer["Payload"])
            selector = task.get("ResultSelector")
            results.append(
                {k.removesuffix(".$"): _path(answer, v) for k, v in selector.items()}
                if selector
                else answer["Payload"]
            )
        return {"rows": len(items), "batches": len(results), "results": results}


def _choose(state: dict[str, Any], data: Any) -> str:
    for choice in state.get("Choices", []):
        value = _path(data, choice["Variable"])
        if "StringEquals" in choice and value == choice["StringEquals"]:
            return str(choice["Next"])
        if "BooleanEquals" in choice and value is choice["BooleanEquals"]:
            return str(choice["Next"])
    return str(state["Default"])


def _selected(selector: dict[str, Any], data: Any, context: dict[str, Any]) -> dict[str, Any]:
    """A Parameters-like object: ``key.$`` fields are paths into ``data`` (or, ``$$``, the
    context), the others are kept as they are."""
    return {
        key.removesuffix(".$"): _path(data, value, context) if key.endswith(".$") else value
        for key, value in selector.items()
    }


_STEP = re.compile(r"\[\*\]|[^.\[\]]+")


def _path(data: Any, path: str, context: dict[str, Any] | None = None) -> Any:
    """A JSONPath of the kinds the template uses: $, $.a.b, $$.a.b (the context object), and
    [*] over arrays, which makes the result the flat list of what it reaches."""
    if path.startswith("$$"):
        data, path = context or {}, path[1:]
    found, many = [data], False
    for step in _STEP.findall(path.removeprefix("$")):
        if step == "[*]":
            many = True
            found = [item for value in found if isinstance(value, list) for item in value]
        else:
            found = [value.get(step) if isinstance(value, dict) else None for value in found]
    return found if many else found[0]
