"""The OpenAPI document: every error response documented with the one error shape.

FastAPI documents only a 422 with its own ``HTTPValidationError`` schema, which is not what this API sends.
Here every operation under ``/api`` gets 400/401/403/404/409/413/422/429 with the ``Error`` schema that the
handlers in ``app.py`` really produce, and every creating POST documents the ``Idempotency-Key`` header.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail", "field", "params"],
    "properties": {
        "error": {"type": "string", "description": "stable code pages translate, e.g. validation_error"},
        "detail": {"type": "string", "description": "for logs and developers"},
        "field": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "the request field at fault, dotted (zones.0.teams.1)",
        },
        "params": {
            "type": "object",
            "description": "what a page needs to say more: 'rule' names a broken rule, with its values",
        },
    },
}

ERROR_RESPONSES: dict[str, str] = {
    "400": "Bad request",
    "401": "Not signed in, or the token expired or was revoked",
    "403": "Signed in but not allowed (audited)",
    "404": "No such resource",
    "409": "Conflicts with the resource's state, or an Idempotency-Key reused with another body",
    "413": "Request body over the limit (checked before authentication)",
    "422": "A field is missing, malformed or out of range; 'field' names it",
    "429": "Too many requests; retry after 'Retry-After' seconds",
}

IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "the same key from the same user within 24 h returns the first response and creates "
    "nothing; the same key with another body is 409",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a generator that documents the error responses (built once, cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if path.startswith("/api"):
                for status, description in ERROR_RESPONSES.items():
                    responses[status] = {"description": description, "content": error_content}
                for status, response in responses.items():  # errors a route declares itself (415, 503, ...)
                    if status.isdigit() and int(status) >= 400 and status not in ERROR_RESPONSES:
                        response["content"] = error_content
            elif "422" in responses:
                responses["422"] = {"description": ERROR_RESPONSES["422"], "content": error_content}
            if method == "post" and "201" in responses:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(IDEMPOTENCY_HEADER)
    return schema
