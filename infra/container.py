"""One function's container in a process of its own, for the local twin's API functions.

Powertools' resolver keeps the request it serves on its class (``BaseRouter.current_event``):
one request per process, as on Lambda. So that the twin serves API calls side by side, each
API container is a process: it loads the function's code once (its init, in the function's
environment, which it is started with) and answers events one at a time, a JSON line in, a
JSON line out, on its own pipe (what the function prints goes to stderr).

    python -m infra.container <code path> <module> <handler name> <logical id>
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
import uuid
from pathlib import Path
from typing import IO, Any

_PROTOCOL_FD = 3  # the pipe the answers go back on, beside stdin's events


class ProcessContainer:
    """The parent's side: a function's handler that runs in the child process."""

    def __init__(self, root: Path, path: Path, handler: str, logical_id: str,
                 environment: dict[str, str]) -> None:  # fmt: skip
        read, write = os.pipe()
        command = [sys.executable, "-m", "infra.container", str(path), handler, logical_id]
        self._process = subprocess.Popen(
            command, cwd=root, env=environment, stdin=subprocess.PIPE,
            pass_fds=(write, _PROTOCOL_FD),
            preexec_fn=lambda: _protocol_fd(write),
        )  # fmt: skip
        os.close(write)
        self._answers: IO[str] = os.fdopen(read, "r", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:  # a container serves one call at a time
            assert self._process.stdin is not None
            self._process.stdin.write((json.dumps(event) + "\n").encode())
            self._process.stdin.flush()
            line = self._answers.readline()
        if not line:
            raise RuntimeError(f"the container of {context.function_name} ended")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    @property
    def ended(self) -> bool:
        return self._process.poll() is not None

    def stop(self) -> None:
        self._process.terminate()


def _protocol_fd(write: int) -> None:
    """In the child: the answers' pipe on fd 3. (It ends with its parent: its stdin closes.
    Not by Linux's parent-death signal, which follows the thread that started it, and the
    twin starts containers from its requests' threads.)"""
    os.dup2(write, _PROTOCOL_FD)


def die_with_parent() -> None:
    """In a child, before it runs: Linux ends it when its parent ends, however that ends (the
    parent being the thread that started it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Context:
    memory_limit_in_mb = 1024
    function_version = "$LATEST"
    log_stream_name = "local"

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.log_group_name = f"/aws/lambda/{function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def main() -> None:
    path, handler_name, logical_id = sys.argv[1], sys.argv[2], sys.argv[3]
    answers = os.fdopen(_PROTOCOL_FD, "w", encoding="utf-8")
    sys.stdout = sys.stderr  # the function's prints (metrics, logs) never reach the protocol
    spec = importlib.util.spec_from_file_location(f"_container_{logical_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, handler_name)
    for line in sys.stdin:
        try:
            text = json.dumps({"result": handler(json.loads(line), _Context(logical_id))})
        except Exception:  # as Lambda reports a crashed invocation (or an answer not JSON)
            text = json.dumps({"error": traceback.format_exc(limit=5)})
        answers.write(text + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
