"""The nested body of capture-platform APIs, read as the flat parameters it means.

``POST /screenshot`` also takes::

    {"url": "...", "output": {"format": "png", "fullPage": true, "width": 1280, "height": 800,
                              "quality": 80},
     "auth": {"cookies": [...], "localStorage": {...}, "headers": {...}},
     "redaction": {"selectors": [".email"], "mode": "blur"},
     "actions": [{"type": "waitForSelector", "selector": "#app"}],
     "metadata": {"order": 42}}

Each group's fields become the flat parameter they name (``output.fullPage`` is ``full_page``),
so both forms give the same options and the same cache key. ``metadata`` as an object is the
caller's own JSON (``client_metadata``), echoed on the job; as a boolean it stays the flag that
extracts the page's metadata. A field given both nested and flat is a 400 naming the nested one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from screenshotd import errors
from screenshotd.params.names import snake_case

#: Each group, and the flat parameter each of its fields (in snake_case) sets.
GROUPS: dict[str, dict[str, str]] = {
    "output": {"format": "format", "full_page": "full_page", "width": "width",
               "height": "height", "quality": "quality"},
    "auth": {"cookies": "cookies", "local_storage": "local_storage", "headers": "headers"},
    "redaction": {"selectors": "redact", "mode": "redact_mode"},
}


def flatten(body: Mapping[str, Any]) -> dict[str, Any]:
    """A nested body as flat parameters; a flat body is returned as it is."""
    flat = dict(body)
    for group, fields in GROUPS.items():
        nested = flat.get(group)
        if not isinstance(nested, dict):
            continue
        del flat[group]
        for name, value in nested.items():
            target = fields.get(snake_case(name))
            where = f"{group}.{name}"
            if target is None:
                raise errors.ValidationError(
                    f"unknown field {where}; {group} takes {', '.join(sorted(fields))}",
                    field=where)
            spellings = {target, *(k for k in flat if snake_case(k) == target)}
            if spellings & set(flat):
                raise errors.ValidationError(
                    f"{where} and {sorted(spellings & set(flat))[0]} set the same option; "
                    "give only one", field=where)
            flat[target] = value
    metadata = flat.get("metadata")
    if isinstance(metadata, dict):
        if "client_metadata" in flat:
            raise errors.ValidationError("metadata (an object) and client_metadata set the same "
                                         "option; give only one", field="metadata")
        flat["client_metadata"] = flat.pop("metadata")
    return flat
