"""The application's root exception and the domain errors that map to one JSON error shape.

Every error a client sees is ``{"error": CODE, "detail": "...", "field": ..., "params": {...}}``; services
raise these exceptions and the handlers in ``app.py`` turn them into responses, so routers never build error
bodies.
"""

from __future__ import annotations


class CommandCenterError(Exception):
    """Root of every error the application raises on purpose."""

    code = "error"
    status_code = 500

    def __init__(
        self, detail: str, *, field: str | None = None, params: dict[str, object] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        #: What a page needs to explain the error in its own words (``rule`` names a broken rule).
        self.params = params or {}
        #: Set once a denial has been written to the audit log, so the error handler does not repeat it.
        self.audited = False


class BadRequest(CommandCenterError):
    code = "bad_request"
    status_code = 400


class ValidationFailed(CommandCenterError):
    code = "validation_error"
    status_code = 422


class NotAuthenticated(CommandCenterError):
    code = "unauthorized"
    status_code = 401


class Forbidden(CommandCenterError):
    code = "forbidden"
    status_code = 403


class NotFound(CommandCenterError):
    code = "not_found"
    status_code = 404


class Conflict(CommandCenterError):
    code = "conflict"
    status_code = 409


class TooLarge(CommandCenterError):
    code = "too_large"
    status_code = 413


class ServiceUnavailable(CommandCenterError):
    code = "unavailable"
    status_code = 503


class TooManyRequests(CommandCenterError):
    """Throttled: try again after ``retry_after`` seconds (sent as the ``Retry-After`` header)."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after = max(1, retry_after)
