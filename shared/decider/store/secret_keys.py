"""The API keys' hashes, kept in a Secrets Manager secret: ``{"server": ["<sha256>", ...]}``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from decider.privacy import HashKey

# How long a warm authorizer trusts the hashes it read: a key removed by a rotation stops
# working within this (and API Gateway's cache of the authorizer's answers).
MAX_AGE_SECONDS = 60
# A key not among the cached hashes may be one a rotation just added: the secret is read
# again, but at most this often (wrong keys must not become a stream of reads).
MIN_REFRESH_SECONDS = 5.0


class SecretKeyStore:
    def __init__(
        self,
        secret_id: str,
        client: Any = None,
        max_age: int = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,  # a rate limit: wall time will do
    ) -> None:
        self._secret_id = secret_id
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._provider: SecretsProvider | None = None
        self._refreshed_at = -MIN_REFRESH_SECONDS

    def hashes(self, kind: str, *, fresh: bool = False) -> list[str]:
        """The hashes of ``kind``, as cached; with ``fresh``, read again unless that was done
        in the last MIN_REFRESH_SECONDS."""
        if self._provider is None:  # created on first use, never at import
            self._provider = SecretsProvider(boto3_client=self._client)
        force = fresh and self._clock() - self._refreshed_at >= MIN_REFRESH_SECONDS
        if force:
            self._refreshed_at = self._clock()
        value = self._provider.get(
            self._secret_id, transform="json", max_age=self._max_age, force_fetch=force
        )
        found = value.get(kind, []) if isinstance(value, dict) else []
        return [str(h) for h in found]


class SecretHashKeys:
    """The keys visitors' ids are hashed with: ``{"id": "2", "key": "...", "previous":
    [{"id": "1", "key": "..."}]}`` (what CloudFormation generates is the first, alone)."""

    def __init__(self, secret_id: str, client: Any = None, max_age: int = 300) -> None:
        """``max_age``: how long the keys read are trusted (0: read each time, as a person's
        export and erasure do, so a rotation a moment ago is never missed)."""
        self._secret_id = secret_id
        self._client = client
        self._max_age = max_age
        self._provider: SecretsProvider | None = None

    def __call__(self) -> list[HashKey]:
        if self._provider is None:  # created on first use, never at import
            self._provider = SecretsProvider(boto3_client=self._client)
        value = self._provider.get(
            self._secret_id,
            transform="json",
            max_age=self._max_age,
            force_fetch=self._max_age == 0,
        )
        if not isinstance(value, dict) or "key" not in value:
            raise ValueError(f"{self._secret_id} holds no hash key")
        kept = [value, *value.get("previous", [])]
        return [HashKey(str(k["id"]), str(k["key"]).encode()) for k in kept]
