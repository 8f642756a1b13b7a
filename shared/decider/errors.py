"""Domain errors, each mapped once to an HTTP status by the functions."""


class DeciderError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(DeciderError):
    pass


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
