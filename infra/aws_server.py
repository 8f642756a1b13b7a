"""moto's server for the local twin, in a process of its own (a second core for AWS's side),
serving one request at a time, but for SQS's long polls.

On AWS a conditional write is atomic; moto checks the condition, then writes, and two requests
served at once could both pass the check (a reward counted twice). moto's backends are not
made for threads either (a stream read beside a write, a secret read beside another). moto is
CPU-bound, so one at a time costs little; SQS's ReceiveMessage waits up to a second for a
message and would hold everything up, so it alone runs beside the others.

    python -m infra.aws_server --port 5000
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def one_at_a_time(app: Any) -> Any:
    """The WSGI app, a request at a time (the answer read whole inside), but long polls."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "") == "AmazonSQS.ReceiveMessage":
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per call otherwise
    app = one_at_a_time(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True,
                         request_handler=MotoRequestHandler)  # fmt: skip
    server.serve_forever()


if __name__ == "__main__":
    main()
