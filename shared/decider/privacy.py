"""Visitors' ids, kept only as keyed hashes: HMAC-SHA256 under a secret key, rotatable.

A hash names its key (``<key id>:<hex>``): after a rotation new decisions take the new key,
and a person's older decisions are still found (and erased) under every key kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class HashKey:
    id: str
    secret: bytes


class UserHasher:
    def __init__(self, keys: Callable[[], Sequence[HashKey]]) -> None:
        """``keys``: the keys kept, newest first (read from the store, cached there)."""
        self._keys = keys

    def hash(self, user_id: str) -> str:
        return _keyed(self._keys()[0], user_id)

    def every_hash(self, user_id: str) -> list[str]:
        """The user's hash under every key kept: where their decisions may be stored."""
        return [_keyed(key, user_id) for key in self._keys()]


def _keyed(key: HashKey, user_id: str) -> str:
    digest = hmac.new(key.secret, user_id.encode(), hashlib.sha256).hexdigest()
    return f"{key.id}:{digest}"
