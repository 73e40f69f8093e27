"""The monitors and their widgets in the API reference (``/openapi.json``), under the
``Monitors`` group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_OBJECT = {"type": "object"}
_STRING = {"type": "string"}

#: A monitor's own fields; any other field of the body is a capture parameter of /screenshot.
MONITOR_FIELDS: dict[str, Any] = {
    "url": {**_STRING, "description": "The page to watch."},
    "name": _STRING,
    "every": {"type": "integer", "minimum": 1,
              "description": "Seconds between checks (at least MONITOR_MIN_INTERVAL_SECONDS)."},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                  "description": "Share of pixels that counts as a change (0.001)."},
    "pixel_threshold": {"type": "number", "minimum": 0, "maximum": 1,
                        "description": "pixelmatch's colour threshold (0.1)."},
    "ignore": {"type": "array", "items": _STRING, "maxItems": 50,
               "description": "Selectors masked before comparing."},
    "baseline": {"enum": ["previous", "pinned"]},
    "confirm": {"type": "boolean", "description": "Capture a change once more first."},
    "down_after": {"type": "integer", "minimum": 1, "maximum": 100},
    "webhook_url": _STRING, "webhook_secret": _STRING, "paused": {"type": "boolean"},
}


def paths(errors: Callable[..., dict[str, Any]],
          json: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The operations, with the document's own error answers (``errors``) and JSON answer
    helper (``json``)."""
    monitor_id = {"name": "monitor_id", "in": "path", "required": True, "schema": _STRING}
    body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": MONITOR_FIELDS,
        "description": "A monitor's fields, and any capture parameter of /screenshot (image "
                       "formats only)."}}}}
    token = {"name": "t", "in": "query", "required": True, "schema": _STRING}
    return {
        "/monitors": {
            "post": {"summary": "Create a monitor", "operationId": "monitorCreate",
                     "requestBody": body,
                     "responses": {"201": json(_OBJECT, "The monitor."), **errors(503)}},
            "get": {"summary": "Your monitors", "operationId": "monitorList",
                    "responses": {"200": json(_OBJECT), **errors(503)}}},
        "/monitors/{monitor_id}": {
            "get": {"summary": "A monitor: state, last check, last change, uptime",
                    "operationId": "monitorRead", "parameters": [monitor_id],
                    "responses": {"200": json(_OBJECT), **errors(503)}},
            "patch": {"summary": "Change a monitor", "operationId": "monitorChange",
                      "parameters": [monitor_id], "requestBody": body,
                      "responses": {"200": json(_OBJECT), **errors(503)}},
            "delete": {"summary": "Delete a monitor, its history and its images",
                       "operationId": "monitorDelete", "parameters": [monitor_id],
                       "responses": {"204": {"description": "Deleted."}, **errors(503)}}},
        "/monitors/{monitor_id}/check": {
            "post": {"summary": "Check now", "operationId": "monitorCheck",
                     "parameters": [monitor_id],
                     "responses": {"202": json(_OBJECT, "The check's id."),
                                   **errors(409, 503)}}},
        "/monitors/{monitor_id}/baseline": {
            "post": {"summary": "Pin the latest successful capture as the baseline",
                     "operationId": "monitorPin", "parameters": [monitor_id],
                     "responses": {"200": json(_OBJECT), **errors(409, 503)}}},
        "/monitors/{monitor_id}/checks": {
            "get": {"summary": "The history of checks, newest first",
                    "operationId": "monitorChecks",
                    "parameters": [monitor_id,
                                   {"name": "limit", "in": "query", "schema": {
                                       "type": "integer", "minimum": 1, "maximum": 500}},
                                   {"name": "before", "in": "query", "schema": {
                                       "type": "string", "format": "date-time"}}],
                    "responses": {"200": json(_OBJECT), **errors(503)}}},
        "/monitors/{monitor_id}/events": {
            "get": {"summary": "Server-Sent Events: check, changed, down, recovered",
                    "operationId": "monitorEvents", "parameters": [monitor_id],
                    "responses": {"200": {"description": "An event stream.", "content": {
                        "text/event-stream": {"schema": {"$ref": "#/components/schemas/"
                                                                 "JobEvent"}}}},
                                  **errors(503)}}},
        "/monitors/{monitor_id}/widgets": {
            "post": {"summary": "Make a widget token (read-only, for one monitor)",
                     "operationId": "widgetCreate", "parameters": [monitor_id],
                     "responses": {"201": json(_OBJECT), **errors(503)}},
            "get": {"summary": "The monitor's widget tokens", "operationId": "widgetList",
                    "parameters": [monitor_id],
                    "responses": {"200": json(_OBJECT), **errors(503)}}},
        "/monitors/{monitor_id}/widgets/{token}": {
            "delete": {"summary": "Revoke a widget token", "operationId": "widgetRevoke",
                       "parameters": [monitor_id, {"name": "token", "in": "path",
                                                   "required": True, "schema": _STRING}],
                       "responses": {"204": {"description": "Revoked."}, **errors(503)}}},
        "/widget/badge/{name}": {
            "get": {"summary": "An uptime badge: {token}.svg", "operationId": "widgetBadge",
                    "security": [{}],
                    "parameters": [{"name": "name", "in": "path", "required": True,
                                    "schema": _STRING}],
                    "responses": {"200": {"description": "SVG.", "content": {
                        "image/svg+xml": {"schema": _STRING}}}, **errors(503)}}},
        "/widget/screenshot.png": {
            "get": {"summary": "The latest capture", "operationId": "widgetScreenshot",
                    "security": [{}], "parameters": [token],
                    "responses": {"200": {"description": "PNG.", "content": {"image/png": {
                        "schema": {"type": "string", "format": "binary"}}}},
                        "304": {"description": "Not modified."}, **errors(503)}}},
        "/widget/screenshot.js": {
            "get": {"summary": "A script that inserts the latest capture",
                    "operationId": "widgetScript", "security": [{}], "parameters": [token],
                    "responses": {"200": {"description": "JavaScript.", "content": {
                        "text/javascript": {"schema": _STRING}}}, **errors(503)}}},
        "/widget/status/{token}": {
            "get": {"summary": "A status page for an iframe", "operationId": "widgetStatus",
                    "security": [{}],
                    "parameters": [{"name": "token", "in": "path", "required": True,
                                    "schema": _STRING}],
                    "responses": {"200": {"description": "HTML.", "content": {
                        "text/html": {"schema": _STRING}}}, **errors(503)}}},
        "/links/monitors/{monitor_id}/{check_id}/{kind}": {
            "get": {"summary": "A check's screenshot or diff through its signed link",
                    "operationId": "monitorImage", "security": [{}],
                    "parameters": [monitor_id,
                                   {"name": "check_id", "in": "path", "required": True,
                                    "schema": _STRING},
                                   {"name": "kind", "in": "path", "required": True,
                                    "schema": {"enum": ["shot.png", "diff.png"]}},
                                   {"name": "expires", "in": "query", "required": True,
                                    "schema": _STRING},
                                   {"name": "signature", "in": "query", "required": True,
                                    "schema": _STRING}],
                    "responses": {"200": {"description": "PNG.", "content": {"image/png": {
                        "schema": {"type": "string", "format": "binary"}}}},
                        **errors(503)}}},
    }
