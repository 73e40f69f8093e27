"""The faces in the API reference (``/openapi.json``): each face's operations, declared beside
its handlers (:class:`~screenshotd.http.dialects.base.Operation`), under its own tag, with every
error status its error body can have."""

from __future__ import annotations

from typing import Any

from screenshotd import errors
from screenshotd.http.dialects.base import Face, Operation

_BINARY = {"type": "string", "format": "binary"}


def paths(faces: tuple[Face, ...]) -> dict[str, dict[str, Any]]:
    """The operations of ``faces``, by path and method."""
    document: dict[str, dict[str, Any]] = {}
    for face in faces:
        failures = _failures(face)
        for operation in face.operations:
            document.setdefault(operation.path, {})[operation.method] = _operation(
                face, operation, failures)
    return document


def link_path() -> dict[str, Any]:
    """``/links/{name}``: the signed links the faces hand out."""
    return {"get": {
        "summary": "A seed API's signed link to an image (needs no key)",
        "operationId": "openLink", "security": [{}],
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            *({"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
              for name in ("o", "expires", "signature"))],
        "responses": {
            "200": {"description": "The image.", "content": {
                kind: {"schema": _BINARY} for kind in (
                    "image/png", "image/jpeg", "image/webp", "application/pdf", "video/mp4",
                    "video/webm")}},
            "404": {"description": "Not a link, changed, expired, or no longer kept.",
                    "content": {"application/json": {"schema": {"type": "object"}}}}}}}


def _operation(face: Face, operation: Operation,
               failures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in ("id", "output") if f"{{{name}}}" in operation.path]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in operation.query.items()]
    responses: dict[str, Any] = {}
    for status, kinds in operation.answers.items():
        if status == 302:
            responses["302"] = {"description": "A redirect to the image.", "headers": {
                "Location": {"schema": {"type": "string"}}}}
            continue
        responses[str(status)] = {"description": "OK" if status == 200 else "Accepted",
                                  "content": {kind: {"schema": _schema(kind)} for kind in kinds}}
    responses.update(failures)
    item: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": f"seed{face.name}{operation.method.title()}"
                       f"{''.join(part.title() for part in _words(operation.path))}",
        "parameters": parameters, "responses": responses}
    if operation.body is not None:
        item["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.body}}}
    return item


def _words(path: str) -> list[str]:
    return [part.strip("{}").replace("-", "") for part in path.split("/") if part]


#: One Server-Sent Event: its name and its data (JSON, as a string).
_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["connected", "heartbeat", "completed", "failed",
                                         "timeout"]},
    "data": {"type": "string"}}}


def _schema(kind: str) -> dict[str, Any]:
    if kind == "application/json":
        return {"type": "object"}
    if kind == "text/event-stream":
        return _EVENT
    if kind.startswith("text/"):
        return {"type": "string"}
    return _BINARY


def _failures(face: Face) -> dict[str, dict[str, Any]]:
    """Every status the face's errors can have, with the codes that come with each."""
    codes: dict[int, set[str]] = {404: {"NOT_FOUND"}, 405: {"NOT_FOUND"}}
    for kind in _error_classes(errors.ScreenshotError):
        sample = kind.__new__(kind)
        sample.message, sample.field = "", None
        if isinstance(sample, errors.RetryableError):
            sample.retry_after = 1
        status, body = face.error_body(sample)
        codes.setdefault(status, set()).add(_code(body) or kind.code)
    return {str(status): {
        "description": f"{face.title}'s error: {', '.join(sorted(found))}.",
        "content": {"application/json": {"schema": {"type": "object"}}}}
        for status, found in sorted(codes.items())}


def _code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code"))
    found = body.get("code") or body.get("errorCode")
    return str(found) if found else None


def _error_classes(root: type[errors.ScreenshotError]) -> list[type[errors.ScreenshotError]]:
    found = []
    for kind in root.__subclasses__():
        found.append(kind)
        found += _error_classes(kind)
    return found
