"""Reading a ``POST /batch`` body into one set of options per item.

Two forms, each with at most :data:`MAX_ITEMS` items::

    {"requests": [{...capture params...}, ...], ...shared params}
    {"urls": ["https://a.example", ...], ...shared params}

Shared parameters apply to every item; an item's own parameters win over them. ``async`` and
``response_type`` (:data:`BATCH_RESPONSE_TYPES`) belong to the batch as a whole, and so does
``callback_url``: one webhook when every item has finished (signed with ``webhook_secret``,
which the items share). Names may be given in camelCase (``responseType``, ``callbackUrl``). A body of the wrong shape is one 400 for the batch. An item that does
not validate is not: it becomes that item's error, so the other items still run and every item
keeps its place in the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from screenshotd import errors
from screenshotd.params.capture import KNOWN_PARAMS, CaptureOptions
from screenshotd.params.names import snake_keys
from screenshotd.params.values import check_url, parse_bool

MAX_ITEMS = 50
#: The names that belong to the batch itself.
BATCH_NAMES = frozenset({"requests", "urls", "async", "response_type", "callback_url"})

Item = CaptureOptions | errors.ScreenshotError


#: What a synchronous batch answers for each item: ``base64`` (its description and bytes),
#: ``json`` (the description alone), ``paths`` (the stored object's name in the result
#: storage) or ``image_urls`` (a URL of the image).
BATCH_RESPONSE_TYPES = ("base64", "json", "paths", "image_urls")


@dataclass
class BatchRequest:
    items: list[Item]
    #: The URL each item named, as given (for the answer of an item that did not validate).
    urls: list[str | None]
    async_: bool
    response_type: str = "base64"
    #: Where to POST the whole batch when its last item finishes, and what signs it.
    callback_url: str | None = None
    callback_secret: str | None = None


def parse_batch(body: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], CaptureOptions]
                ) -> BatchRequest:
    """Validate a batch body; ``parse`` turns one item's parameters into options."""
    body = snake_keys(body, BATCH_NAMES | KNOWN_PARAMS)
    forms = [name for name in ("requests", "urls") if name in body]
    if len(forms) != 1:
        raise errors.ValidationError(
            'a batch is {"requests": [{...}, ...]} or {"urls": ["...", ...]}, with one of them',
            field="requests",
        )
    form = forms[0]
    given = body[form]
    if not isinstance(given, list) or not given:
        raise errors.ValidationError(f"{form} must be a non-empty array", field=form)
    if len(given) > MAX_ITEMS:
        raise errors.ValidationError(
            f"a batch has at most {MAX_ITEMS} items, this one has {len(given)}", field=form)
    shared = {k: v for k, v in body.items()
              if k not in ("requests", "urls", "async", "response_type", "callback_url")}
    callback_url = body.get("callback_url")
    if callback_url is not None:
        try:
            callback_url = check_url(callback_url) if isinstance(callback_url, str) else None
        except PydanticCustomError as exc:
            raise errors.InvalidURL(f"callback_url: {exc.message()}", field="callback_url") from None
        if callback_url is None:
            raise errors.InvalidURL("callback_url must be a URL", field="callback_url")
    secret = body.get("webhook_secret")
    if callback_url is not None and "webhook_url" not in shared:
        # the secret signs the batch's callback; an item gets it only with a webhook of its own
        shared.pop("webhook_secret", None)
    response_type = body.get("response_type", "base64")
    if response_type not in BATCH_RESPONSE_TYPES:
        raise errors.ValidationError(
            f"a batch's response_type is one of {', '.join(BATCH_RESPONSE_TYPES)}, not "
            f"{str(response_type)[:40]!r}", field="response_type")
    try:
        async_ = parse_bool(body.get("async", False))
    except ValueError:
        raise errors.ValidationError("async must be true, false, 1 or 0", field="async") from None

    items: list[Item] = []
    urls: list[str | None] = []
    for index, entry in enumerate(given):
        where = f"{form}[{index}]"
        if form == "urls":
            params = {**shared, "url": entry} if isinstance(entry, str) else None
        else:
            params = {**shared, **entry} if isinstance(entry, dict) else None
            if (params is not None and callback_url is not None and "webhook_url" in entry
                    and "webhook_secret" not in params and isinstance(secret, str)):
                params["webhook_secret"] = secret
            for whole in ("async", "response_type", "callback_url"):
                if params is not None and whole in entry:
                    raise errors.ValidationError(f"{whole} is set for the whole batch, not per "
                                                 "item", field=f"{where}.{whole}")
        if params is None:
            kind = "a string URL" if form == "urls" else "an object of capture parameters"
            items.append(errors.ValidationError(f"{where} must be {kind}", field=where))
            urls.append(None)
            continue
        url = params.get("url")
        urls.append(url if isinstance(url, str) else None)
        try:
            items.append(parse({**params, "async": async_}))
        except errors.ScreenshotError as exc:
            items.append(exc)
    return BatchRequest(items, urls, async_, response_type, callback_url,
                        secret if isinstance(secret, str) and callback_url else None)
