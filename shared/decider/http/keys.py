"""API keys: servers (reward, conversions, the Personalizer routes) present one; the stack
keeps only their SHA-256 hashes, two or more valid at once so a key rotates without downtime.

A key is 32 random bytes (``dk_`` and URL-safe base64): a hash of it cannot be reversed or
guessed, so, as for GitHub's or Stripe's tokens, an unsalted SHA-256 is the right hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from decider.errors import DeciderError

PREFIX = "dk_"
# The hashes a rotation keeps, newest first: the new key and the one clients still send.
KEPT = 2


class Unauthorized(DeciderError):
    status = 401
    code = "unauthorized"


class Forbidden(DeciderError):
    status = 403
    code = "forbidden"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(hashed: str) -> str:
    """What logs and the authorizer's context name a key by: never the key, nor its hash."""
    return hashed[:12]


def verified(presented: str | None, hashes: Sequence[str]) -> str | None:
    """The id of the valid key presented, or None. Compared in constant time."""
    if not presented:
        return None
    hashed = key_hash(presented)
    found = None
    for candidate in hashes:
        if hmac.compare_digest(hashed, candidate):
            found = key_id(candidate)
    return found


def rotated(hashes: Sequence[str], new_hash: str, keep: int = KEPT) -> list[str]:
    """The hashes after adding a new key: it first, then the newest others, ``keep`` in all."""
    return [new_hash, *[h for h in hashes if h != new_hash]][:keep]


def require(authorizer_context: dict[str, object], header: str) -> str:
    """The id of the key the authorizer verified for this request; Unauthorized without one."""
    found = authorizer_context.get("key_id")
    if not isinstance(found, str) or not found:
        raise Unauthorized(f"send a valid API key in the {header} header")
    return found
