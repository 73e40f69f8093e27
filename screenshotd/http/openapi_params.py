"""The capture parameters as OpenAPI: the POST body's schema (each property with the other
names it may be given by, ``x-aliases``) and the same options as query parameters. Both come
from :class:`~screenshotd.params.capture.CaptureOptions`, the model the code validates with;
``/og-image``'s, likewise, from :class:`~screenshotd.params.og.OgOptions`.
"""

from __future__ import annotations

from typing import Any

from screenshotd.params.capture import CaptureOptions
from screenshotd.params.names import other_spellings
from screenshotd.params.og import OgOptions

_JSON_IN_QUERY = frozenset({"headers", "cookies", "actions", "local_storage"})
#: Options that take a comma-separated list in a query string.
_LIST_IN_QUERY = frozenset({"hide_selectors", "redact", "block_requests"})

#: The longest string a GET parameter is documented to take. uvicorn refuses a request line
#: over 64 KB (with a plain-text 400, before the app sees it); longer values go in a POST body.
QUERY_STRING_MAX = 8192


def plain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without pydantic's ``anyOf [X, null]`` wrapper and its title."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    variants = schema.get("anyOf")
    if variants:
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            schema = {**kept[0], **rest}
    if schema.get("default") is None:
        schema.pop("default", None)
    return schema


def capture_body_schema() -> dict[str, Any]:
    """The JSON body of ``POST /screenshot``: the options model's own JSON schema."""
    schema = CaptureOptions.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    schema["properties"] = {name: _with_aliases(name, plain_schema(prop))
                            for name, prop in schema["properties"].items()}
    schema.pop("title", None)
    # One of url, html or html_base64 is required; the model checks it (and that only one is).
    schema["description"] = "Capture parameters. Give exactly one of url, html or html_base64."
    schema["anyOf"] = [{"required": [name]} for name in ("url", "html", "html_base64")]
    return schema


def _with_aliases(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    """A property with the other names it may be given by (camelCase, the hosted APIs'
    aliases), listed in ``x-aliases`` and in its description."""
    aliases = other_spellings("async_" if name == "async" else name)
    if not aliases:
        return prop
    also = "Also accepted as " + ", ".join(aliases) + "."
    description = prop.get("description", "")
    return {**prop, "description": f"{description} {also}".strip(), "x-aliases": aliases}


def capture_defs() -> dict[str, Any]:
    return {name: {k: v for k, v in definition.items() if k != "title"}
            for name, definition in CaptureOptions.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}")["$defs"].items()}


def query_parameters(exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Every capture option as a query parameter: structured ones as strings (JSON or
    comma-separated), the rest with their own type and bounds."""
    params = []
    for name, prop in capture_body_schema()["properties"].items():
        if name in exclude:
            continue
        schema = plain_schema(prop)
        description = schema.pop("description", "")
        aliases = schema.pop("x-aliases", None)
        if name in _JSON_IN_QUERY:
            schema = {"type": "string"}
            description = (description + " As JSON in a query string.").strip()
        elif name in _LIST_IN_QUERY:
            schema = {"type": "string"}
            description = (description + " Comma-separated in a query string.").strip()
        free_text = schema.get("type") == "string" and "enum" not in schema
        if free_text and schema.get("maxLength", 1 << 30) > QUERY_STRING_MAX:
            schema["maxLength"] = QUERY_STRING_MAX
            description = (description + f" In a query string at most {QUERY_STRING_MAX} "
                           "characters; longer in a POST body.").strip()
        params.append({"name": name, "in": "query", "required": False, "schema": schema,
                       **({"description": description} if description else {}),
                       **({"x-aliases": aliases} if aliases else {})})
    return params


def og_schema() -> dict[str, Any]:
    """``/og-image``'s body, from :class:`~screenshotd.params.og.OgOptions`."""
    schema = OgOptions.model_json_schema()
    schema["properties"] = {name: plain_schema(prop)
                            for name, prop in schema["properties"].items()}
    schema.pop("title", None)
    return schema


def og_query() -> list[dict[str, Any]]:
    """``GET /og-image``'s query parameters: the same fields."""
    schema = og_schema()
    return [{"name": name, "in": "query", "required": name in schema.get("required", []),
             "schema": {k: v for k, v in prop.items() if k != "description"}}
            for name, prop in schema["properties"].items()]
