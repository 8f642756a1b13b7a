"""Domain errors, each mapped once to an HTTP status by the functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LineProblem:
    """What is wrong on one line of an uploaded file (``field``: where on the line)."""

    line: int
    message: str
    field: str | None = None


class DeciderError(Exception):
    status = 400
    code = "invalid_request"
    lines: Sequence[LineProblem] | None = None  # per-line problems of an uploaded file

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(DeciderError):
    pass


class RewardOutOfRange(DeciderError):
    code = "reward_out_of_range"


class UnknownEvent(DeciderError):
    status = 404
    code = "unknown_event"


class DuplicateEvent(DeciderError):
    status = 409
    code = "duplicate_event"


class PayloadTooLarge(DeciderError):
    status = 413
    code = "payload_too_large"


class UnknownDecisionPoint(DeciderError):
    status = 404
    code = "unknown_decision_point"


class UnknownVersion(DeciderError):
    status = 404
    code = "unknown_version"


class InvalidHistory(DeciderError):
    """Lines of a history file that cannot be imported; then none of the file is."""

    code = "invalid_history"

    def __init__(self, message: str, lines: Sequence[LineProblem]) -> None:
        super().__init__(message, field="content")
        self.lines = list(lines)


class AlreadyTrained(DeciderError):
    """History is imported into new decision points only: retrain never goes back in time."""

    status = 409
    code = "already_trained"


class BatchClaimed(DeciderError):
    """Another execution of the campaign holds this batch: runs of one campaign must not
    overlap (start it again once the other is done)."""

    status = 409
    code = "batch_claimed"
