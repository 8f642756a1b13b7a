"""boto3 clients made on first use (so moto can start first), or passed in by the caller."""

from __future__ import annotations

from typing import Any, ClassVar

import boto3


class AwsStore:
    service: ClassVar[str]

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(self.service)
        return self._client
