"""Seed a new decision point with logged history: validate a file here, then import it.

    python -m infra.import_history personalizer-export.json --decision-point home-hero \\
        --format dsjson [--url http://127.0.0.1:3000] [--aws-region us-east-1]

The file is checked first with the core's own parser, as the route will check it: each
invalid line is printed as FILE:LINE: field: problem, and nothing is sent. Then it is posted
to POST /decision-points/{decision_point}/history of the local twin or of any URL; a deployed
stack's admin routes require IAM, so with --aws-region the request is signed (SigV4, service
execute-api) with the credentials botocore finds (environment, profile, SSO, role).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from decider.errors import DeciderError, LineProblem
from decider.http.api import MAX_HISTORY_BODY_BYTES
from decider.http.history import parse_csv, parse_dsjson
from decider.schemas import MAX_ACTIONS, Action, DecisionPointId, HistoryImport
from pydantic import TypeAdapter, ValidationError

TIMEOUT_SECONDS = 60  # the route answers within 30 s


class Refused(Exception):
    """The file cannot be imported; the message says why, for people."""


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the DSJSON or CSV file")
    parser.add_argument("--decision-point", required=True, help="a new decision point")
    parser.add_argument("--format", required=True, choices=["dsjson", "csv"])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the API's base URL")
    parser.add_argument("--aws-region", help="sign for a deployed stack in this region")
    parser.add_argument("--actions", type=Path, help="CSV: a JSON list of every row's actions")
    args = parser.parse_args(argv)
    try:
        payload = request_body(args.file, args.decision_point, args.format, args.actions)
        url = history_url(args.url, args.decision_point)
        report = post(payload, url, args.aws_region, file=args.file)
    except Refused as refused:
        print(str(refused), file=err)
        return 1
    print(json.dumps(report, indent=2), file=out)
    return 0


def request_body(
    file: Path, decision_point: str, format: str, actions_file: Path | None = None
) -> bytes:
    """The route's JSON body for ``file``, once the file is known to be importable."""
    try:
        TypeAdapter(DecisionPointId).validate_python(decision_point)
    except ValidationError:
        raise Refused(
            f"{decision_point!r} is not a decision point id: [a-z0-9][a-z0-9_-]*"
        ) from None
    try:
        content = file.read_bytes().decode("utf-8-sig")
    except OSError as failure:
        raise Refused(f"{file}: {failure.strerror or failure}") from None
    except UnicodeDecodeError:
        raise Refused(f"{file}: not UTF-8 text") from None
    body: dict[str, Any] = {"format": format, "content": content}
    if actions_file is not None:
        body["actions"] = _actions(actions_file)
    payload = json.dumps(body, ensure_ascii=False).encode()
    if len(payload) > MAX_HISTORY_BODY_BYTES:
        raise Refused(
            f"{file}: {len(payload):,} bytes as a request, over the history route's limit of "
            f"{MAX_HISTORY_BODY_BYTES:,}. Split it into smaller files (a CSV with its header "
            "in each) and import each: a repeated import is harmless."
        )
    validate(file, HistoryImport.model_validate(body), decision_point)
    return payload


def validate(file: Path, upload: HistoryImport, decision_point: str) -> None:
    """The route's own checks, but for the decision point's action limit (the route knows it:
    here the most any decision point takes is allowed)."""
    now = datetime.now(UTC)
    common: dict[str, Any] = dict(
        decision_point=decision_point, retention=timedelta(days=1), now=now, max_actions=MAX_ACTIONS
    )
    try:
        if upload.format == "dsjson":
            history = parse_dsjson(upload.content.split("\n"), **common)
        else:
            history = parse_csv(upload.content, actions=upload.actions, **common)
    except DeciderError as invalid:
        raise Refused(_described(f"{file}: {invalid.message}", file, invalid.lines)) from None
    if not history.records:
        raise Refused(f"{file}: the file holds no decisions")


def _actions(file: Path) -> list[dict[str, Any]]:
    try:
        actions = TypeAdapter(list[Action]).validate_json(file.read_bytes())
    except OSError as failure:
        raise Refused(f"{file}: {failure.strerror or failure}") from None
    except ValidationError as invalid:
        raise Refused(
            f"{file}: not a JSON list of actions ({invalid.errors()[0]['msg']})"
        ) from None
    return [action.model_dump() for action in actions]


def history_url(base_url: str, decision_point: str) -> str:
    return f"{base_url.rstrip('/')}/decision-points/{decision_point}/history"


def post(payload: bytes, url: str, aws_region: str | None = None, file: Path | None = None) -> Any:
    """The route's answer; Refused with the route's error (and the file's lines at fault)."""
    headers = {"content-type": "application/json"}
    if aws_region:
        headers = signed_headers(url, payload, aws_region)
    request = urllib.request.Request(url, data=payload, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        raise Refused(_http_error(url, refused.code, refused.read(), file)) from None
    except (urllib.error.URLError, TimeoutError) as failure:
        raise Refused(f"{url}: cannot be reached ({getattr(failure, 'reason', failure)})") from None


def signed_headers(url: str, payload: bytes, region: str) -> dict[str, str]:
    """Headers of the request signed with SigV4 for API Gateway (execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import Session

    credentials = Session().get_credentials()
    if credentials is None:
        raise Refused("--aws-region: no AWS credentials found to sign the request with")
    request = AWSRequest(
        method="POST", url=url, data=payload, headers={"content-type": "application/json"}
    )
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def _http_error(url: str, status: int, body: bytes, file: Path | None) -> str:
    try:
        error = json.loads(body)["error"]
        headline = f"{url}: {status} {error['code']}: {error['message']}"
        problems = [
            LineProblem(p["line"], p["message"], p.get("field")) for p in error.get("lines") or []
        ]
    except (ValueError, KeyError, TypeError):
        return f"{url}: {status} {body.decode(errors='replace')[:500]}"
    return _described(headline, file or Path(url), problems)


def _described(headline: str, file: Path, problems: Sequence[LineProblem] | None) -> str:
    """The error, then FILE:LINE: field: problem for each line at fault."""
    lines = [headline]
    for problem in problems or []:
        where = f"{problem.field}: " if problem.field else ""
        lines.append(f"{file}:{problem.line}: {where}{problem.message}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
