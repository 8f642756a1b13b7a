"""The import CLI against the local twin over HTTP: a Personalizer export seeds a decision
point, which the next retrain learns; a file with a bad line sends nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack import ROOT
from tests.e2e.test_twin import RunningTwin, start_twin
from tests.history_files import coffee_dsjson

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    with start_twin() as running:
        yield running


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # No AWS credentials of the machine may reach a local import
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "infra.import_history", *args]
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_the_cli_imports_a_personalizer_export_that_the_next_retrain_learns(
    twin: RunningTwin, tmp_path: Path
) -> None:
    # Given a Personalizer export of 200 decisions
    export = tmp_path / "personalizer-export.json"
    export.write_text(coffee_dsjson(200) + "\n")

    # When the CLI imports it into a new decision point of the twin
    done = cli(
        str(export), "--decision-point", "e2e-coffee", "--format", "dsjson", "--url", twin.base_url
    )

    # Then it reports every decision imported, and the next retrain learns them: all but the
    # newest fifth, on which it scores the model (the run after learns those)
    assert done.returncode == 0, done.stderr
    assert '"imported": 200' in done.stdout
    fired = twin.request("POST", "/_local/schedules/RetrainStateMachine")
    assert fired.status == 200, fired.body
    report = next(r for r in fired.body["reports"] if r["decision_point"] == "e2e-coffee")
    held_out = report["evaluation"]["candidate"]["n"]
    assert (report["status"], report["decisions_learned"], held_out) == ("trained", 160, 40)

    # And importing it again is refused, as retrain has moved on
    again = cli(
        str(export), "--decision-point", "e2e-coffee", "--format", "dsjson", "--url", twin.base_url
    )
    assert again.returncode == 1
    assert "409 already_trained" in again.stderr


def test_a_file_with_a_bad_line_is_not_sent(twin: RunningTwin, tmp_path: Path) -> None:
    lines = coffee_dsjson(3).split("\n")
    lines[2] = lines[2].replace('"Timestamp": "2026-10-01', '"Timestamp": "1999-10-01')
    export = tmp_path / "bad.json"
    export.write_text("\n".join(lines))

    done = cli(
        str(export), "--decision-point", "e2e-bad", "--format", "dsjson", "--url", twin.base_url
    )

    assert done.returncode == 1
    assert f"{export}:3: Timestamp: a timestamp must be between the years 2000" in done.stderr
    assert twin.request("GET", "/decision-points/e2e-bad").status == 404
