"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with a 4xx/5xx status.

Every failure a client can see goes through `ApiError` or the catch-all
handler in `app.py`, so no traceback ever reaches a client (it goes to the
server log instead).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    500: "internal_server_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answer; `headers` carries e.g. Retry-After."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": TYPES.get(
                status, "invalid_request_error" if status < 500 else "internal_server_error"
            ),
            "param": param,
            "code": code,
        }
    }


def from_validation(exc: ValidationError) -> ApiError:
    """A pydantic error as one 422 naming the first bad field."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-")) or None
    if first["type"] == "missing":
        message = f"'{loc}' is required"
    else:
        got = first.get("input")
        shown = (
            repr(got)
            if isinstance(got, str | int | float | bool) or got is None
            else type(got).__name__
        )
        message = f"'{loc}' = {shown} is invalid: {first['msg']}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem(s))"
    return ApiError(
        422, message, param=loc, code="invalid_value" if first["type"] != "missing" else "missing"
    )
