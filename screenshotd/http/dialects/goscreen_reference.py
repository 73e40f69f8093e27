"""Seed ``000``'s operations in the API reference: its request bodies and answers, beside
:mod:`.goscreen`, whose handlers serve them."""

from __future__ import annotations

from typing import Any

from screenshotd.http.dialects.base import (
    BOOLEAN,
    JSON,
    NUMBER,
    STRING,
    Operation,
    between,
    obj,
)

PREFIX = "/api/v1/"
MAX_BATCH = 50
PER_PAGE_MAX = 100

REQUEST = obj({
    "url": STRING, "html": STRING, "async": BOOLEAN,
    "device": {"enum": ["desktop", "mobile", "tablet"]}, "width": between(100, 4000),
    "height": between(100, 4000), "format": {"enum": ["png", "jpg", "jpeg", "webp", "pdf"]},
    "quality": between(1, 100), "full_page": BOOLEAN, "block_ads": BOOLEAN,
    "block_cookies": BOOLEAN, "stealth": BOOLEAN, "delay": between(0, 10000),
    "timeout": between(1000, 60000), "scroll_to": between(0, 1_000_000),
    "proxy_country": STRING, "js_scenario": {"type": "string", "maxLength": 4096},
    "selector": STRING, "wait_for": STRING, "css": {"type": "string", "maxLength": 65535},
    "theme": {"enum": ["light", "dark"]},
    "headers": {"type": "string", "description": "A JSON object, at most 10 keys."},
    "cache_ttl": between(60, 2_592_000), "webhook_url": STRING, "webhook_secret": STRING,
    "signed_link": BOOLEAN, "signed_link_expires_in": between(60, 604_800)})
BATCH_ITEM = obj({"url": STRING, "html": STRING, "device": {"enum": ["desktop", "mobile",
                                                                      "tablet"]},
                  "format": {"enum": ["png", "jpg", "jpeg", "webp", "pdf"]},
                  "full_page": BOOLEAN, "width": between(100, 4000),
                  "height": between(100, 4000), "webhook_url": STRING})
OG_FIELDS: dict[str, dict[str, Any]] = {"title": {"type": "string", "minLength": 1, "maxLength": 150},
             "description": {"type": "string", "maxLength": 300},
             "theme": {"enum": ["light", "dark"]}, "bg_color": STRING, "text_color": STRING,
             "logo_url": STRING, "redirect": BOOLEAN}
OPERATIONS = (
    Operation("post", f"{PREFIX}screenshot", "Create a screenshot request (async by default)",
              body=REQUEST, answers={200: JSON, 202: JSON}),
    Operation("get", f"{PREFIX}screenshot/{{id}}", "Poll a request's status"),
    Operation("get", f"{PREFIX}screenshot/{{id}}/stream",
              "A request's events: connected, heartbeat, completed, failed, timeout",
              query={"key": STRING}, answers={200: ("text/event-stream",)}),
    Operation("get", f"{PREFIX}screenshots", "Your screenshot history, paginated",
              query={"status": {"enum": ["queued", "processing", "completed", "failed"]},
                     "per_page": between(1, PER_PAGE_MAX), "page": between(1, 1_000_000)}),
    Operation("get", f"{PREFIX}me", "Account and quota"),
    Operation("post", f"{PREFIX}batch", "Submit up to 50 screenshot requests",
              body=obj({"requests": {"type": "array", "items": BATCH_ITEM, "minItems": 1,
                                     "maxItems": MAX_BATCH},
                        "callback_url": STRING}, ("requests",)), answers={202: JSON}),
    Operation("get", f"{PREFIX}batch/{{id}}", "A batch's status and items"),
    Operation("post", f"{PREFIX}diff", "Compare two completed screenshots by their ids",
              body=obj({"request_id_1": STRING, "request_id_2": STRING,
                        "threshold": {**NUMBER, "minimum": 0, "maximum": 1},
                        "force": BOOLEAN}, ("request_id_1", "request_id_2"))),
    Operation("post", f"{PREFIX}og-image", "An Open Graph image (a redirect to it by default)",
              body=obj(OG_FIELDS, ("title",)), answers={200: JSON, 302: ()}),
    Operation("get", f"{PREFIX}og-image", "An Open Graph image (a redirect to it by default)",
              query=OG_FIELDS, answers={200: JSON, 302: ()}),
)
