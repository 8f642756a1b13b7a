"""boto3 clients made on first use (so moto can start first), or passed in by the caller."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import boto3


class AwsStore:
    service: ClassVar[str]

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._made = threading.Lock()

    @property
    def client(self) -> Any:
        # One client, even when writer threads ask at once: each client has its own exception
        # classes, and an error of one is not caught as the other's.
        if self._client is None:
            with self._made:
                if self._client is None:
                    self._client = boto3.client(self.service)
        return self._client
