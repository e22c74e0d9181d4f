"""The OpenAPI document at `/openapi.json`, made to say what the API answers.

FastAPI documents each operation's success and a 422 in its own shape; the REST API answers
more, and every error as `{"error": "…"}` (`app.main._error`). `describe` adds to FastAPI's
document, from what the routes are (under `/api/v1`, read or write, with path or query
parameters or a body):

- every error response with the `Error` schema: 422 (a body or parameter that is not valid,
  with `details`), 400 (a query parameter or a body the API cannot use: not JSON, a cursor of
  another shape), 401 (no or a wrong bearer token), 403 (a write with the read-only token),
  404 (an id or group that does not exist), 409 (`CONFLICTS`), 503 (the REST API is off or the
  database unavailable); and `/readyz`'s 503, `/metrics`' 404;
- the bearer token as the security scheme of every `/api/v1` operation;
- the second success of an add (`ALSO_OK`: 200 when the entry exists, besides 201);
- the media types of the exports (CSV, text) and of `/metrics`.

`tests/admin/test_api_properties.py` runs schemathesis with every check against this document.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

__all__ = ["ALSO_OK", "CONFLICTS", "describe"]

API_PREFIX = "/api/v1"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in one line"},
        "details": {
            "type": "array",
            "description": "each problem of a 422: where (`loc`) and what (`msg`)",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}},
            },
        },
    },
}
# (method, path) → why the operation can answer 409
CONFLICTS = {
    ("post", "/api/v1/moderation-logs/{log_id}/review"): "the log row was reviewed already",
    ("post", "/api/v1/outbox/{action_id}/retry"): "the action is not dead",
    ("patch", "/api/v1/groups/{chat_id}"): "a webhook key, and SECRET_KEY is not set",
    ("post", "/api/v1/moderation-logs/{log_id}/allow"): "the decision is not overturned",
}
# (method, path) → the other success an add answers when the entry exists
ALSO_OK = {
    ("post", "/api/v1/lexicon/words"): ("200", "updated or unchanged: the word existed"),
    ("post", "/api/v1/lexicon/allow"): ("200", "unchanged: the phrase existed"),
    ("post", "/api/v1/moderation-logs/{log_id}/allow"): ("200", "unchanged: the phrase existed"),
}
MEDIA_TYPES = {
    ("get", "/api/v1/moderation-logs/export.csv"): "text/csv",
    ("get", "/api/v1/lexicon/words/export"): "text/plain",
    ("get", "/api/v1/lexicon/allow/export"): "text/plain",
    ("get", "/metrics"): "text/plain",
}
OTHER_ERRORS = {
    ("get", "/readyz"): {"503": "the database does not answer"},
    ("get", "/metrics"): {"404": "metrics are off (METRICS_ENABLED=false)"},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _text(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def _errors_of(method: str, path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The error answers an operation can give, by status."""
    errors: dict[str, dict[str, Any]] = {}
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    if parameters or body:
        errors["422"] = _error("a parameter or the body is not valid (`details` says where)")
    if body or any(parameter["in"] == "query" for parameter in parameters):
        errors["400"] = _error(
            "a query parameter or a body the API cannot use (not JSON, a cursor of another "
            "shape, an unknown filter value)"
        )
    if path.startswith(API_PREFIX):
        errors["401"] = {
            **_error("no bearer token, or a wrong one"),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        }
        if method != "get":
            errors["403"] = _error("the read-only token may only read (GET)")
        errors["503"] = _error("the REST API is off (no ADMIN_API_TOKEN) or the database is away")
        if any(parameter["in"] == "path" for parameter in parameters):
            errors["404"] = _error("no such id or group")
        if (method, path) in CONFLICTS:
            errors["409"] = _error(CONFLICTS[method, path])
    for status, description in OTHER_ERRORS.get((method, path), {}).items():
        errors[status] = _error(description)
    return errors


def describe(app: FastAPI) -> None:
    """Make `app.openapi()` return the document described above (built once, cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "ADMIN_API_TOKEN (read and write) or READONLY_API_TOKEN (GET)",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                media_type = MEDIA_TYPES.get((method, path))
                if media_type is not None:
                    ok = next(status for status in responses if status.startswith("2"))
                    responses[ok] = _text(media_type, responses[ok].get("description", "OK"))
                if (method, path) in ALSO_OK:
                    status, description = ALSO_OK[method, path]
                    created = next(iter(responses[s] for s in responses if s.startswith("2")))
                    responses[status] = {**copy.deepcopy(created), "description": description}
                responses.update(_errors_of(method, path, operation))
                if path.startswith(API_PREFIX):
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
