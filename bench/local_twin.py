"""The local twin as a benchmark drives it: `python -m infra.twin` in its own process, over
real HTTP on loopback, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from infra.stack import ROOT


@dataclass(frozen=True)
class Twin:
    base: str  # the API
    aws: str  # moto's endpoint, for what a shop puts in S3 itself (a campaign's list)


@contextlib.contextmanager
def running_twin(key: str, params: str = "") -> Iterator[Twin]:
    """The running twin, with ``key`` as its server key."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"}
    command = [sys.executable, "-m", "infra.twin", "--port", str(port), "--api-keys", key,
               "--quiet-requests", "--params", params]  # fmt: skip
    with tempfile.TemporaryFile() as output:
        twin = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base, twin)
            yield Twin(base, _aws_endpoint(output))
        finally:
            twin.terminate()
            twin.wait(timeout=30)


def _aws_endpoint(output: IO[bytes]) -> str:
    output.seek(0)
    found = re.search(rb"moto on :(\d+)", output.read())
    if found is None:
        raise RuntimeError("the twin did not say where moto listens")
    return f"http://127.0.0.1:{found.group(1).decode()}"


def _wait_for(base: str, twin: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if twin.poll() is not None:
            raise RuntimeError("the twin stopped while starting")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(base + "/_local/health", timeout=2).read()
            return
        time.sleep(0.3)
    raise RuntimeError("the twin did not start")
