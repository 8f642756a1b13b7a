"""The import CLI's own part: it checks a file before sending it, and signs for AWS.
(Sending it to the twin is tested end to end, in tests/e2e/test_history_cli.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from decider.http.api import MAX_HISTORY_BODY_BYTES

from infra import import_history
from tests.history_files import coffee_csv, coffee_dsjson


def run(*args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str, list[bytes]]:
    """The CLI's exit code, output and errors, and what it would have posted."""
    posted: list[bytes] = []

    def post(payload: bytes, url: str, aws_region: str | None = None, file: Path | None = None):  # type: ignore[no-untyped-def]
        posted.append(payload)
        return {"imported": len(posted)}

    monkeypatch.setattr(import_history, "post", post)
    out, err = io.StringIO(), io.StringIO()
    code = import_history.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue(), posted


def test_a_valid_file_is_posted_as_the_route_s_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "logs.json"
    file.write_text(coffee_dsjson(5))
    code, out, _, posted = run(
        str(file), "--decision-point", "coffee", "--format", "dsjson", monkeypatch=monkeypatch
    )
    assert code == 0
    assert json.loads(out) == {"imported": 1}
    assert json.loads(posted[0]) == {"format": "dsjson", "content": coffee_dsjson(5)}


def test_a_file_with_bad_lines_is_not_sent_and_each_bad_line_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "history.csv"
    rows = coffee_csv(4).split("\n")
    rows[2] = rows[2].replace(",0.3333,", ",1.5,")
    rows[4] = rows[4].replace("visit-00003", "visit 3")
    file.write_text("\n".join(rows))

    code, out, err, posted = run(
        str(file), "--decision-point", "coffee", "--format", "csv", monkeypatch=monkeypatch
    )

    assert (code, out, posted) == (1, "", [])
    headline, first, second = err.strip().split("\n")
    assert headline.startswith(f"{file}: 2 of 5 lines cannot be imported")
    assert first.startswith(f"{file}:3: probability: ")
    assert second.startswith(f"{file}:5: event_id: ")


def test_a_file_over_the_route_s_limit_is_refused_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "big.csv"
    file.write_text("action,probability,reward\n" + "a,0.5,1\n" * (MAX_HISTORY_BODY_BYTES // 8))
    code, _, err, posted = run(
        str(file), "--decision-point", "coffee", "--format", "csv", monkeypatch=monkeypatch
    )
    assert (code, posted) == (1, [])
    assert "over the history route's limit of 3,000,000" in err
    assert "Split it" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decision-point", "Not Valid"], "is not a decision point id"),
        (["--decision-point", "coffee", "--actions", "missing.json"], "missing.json"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_reading_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    file = tmp_path / "history.csv"
    file.write_text(coffee_csv(2))
    monkeypatch.chdir(tmp_path)
    code, _, err, posted = run(str(file), "--format", "csv", *args, monkeypatch=monkeypatch)
    assert (code, posted) == (1, [])
    assert message in err


def test_the_actions_of_a_csv_can_come_from_a_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "history.csv").write_text("action,probability,reward\nlatte,0.5,1\n")
    (tmp_path / "actions.json").write_text('[{"id": "latte"}, {"id": "mocha"}]')
    code, _, _, posted = run(
        str(tmp_path / "history.csv"),
        "--decision-point",
        "coffee",
        "--format",
        "csv",
        "--actions",
        str(tmp_path / "actions.json"),
        monkeypatch=monkeypatch,
    )
    assert code == 0
    assert json.loads(posted[0])["actions"] == [
        {"id": "latte", "features": {}},
        {"id": "mocha", "features": {}},
    ]


def test_a_request_to_a_deployed_stack_is_signed_for_api_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/decision-points/coffee/history"

    headers = import_history.signed_headers(url, b'{"format": "csv"}', "eu-west-1")

    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date" in authorization
    assert headers["X-Amz-Date"]
