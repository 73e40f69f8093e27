"""DeliveryOptions: how a capture is answered, never what it looks like.

``response_type``, ``cache``, ``cache_ttl``, ``async``, ``webhook_url``, ``webhook_secret``,
``download``, ``store``, ``signed_link``, ``signed_link_expires_in`` and ``client_metadata``
change the answer (its shape, whether it waits, where it is sent) but not the
image, so they are never part of the cache key: a capture asked for as JSON and the same capture
asked for as bytes share one entry and one ETag.
:class:`~screenshotd.params.capture.CaptureOptions` is these and the keyed
:class:`~screenshotd.params.capture.RenderOptions` together.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from screenshotd.params.values import MAX_URL_LENGTH, Bool, check_url, parse_json

ResponseType = Literal["image", "base64", "json"]
MAX_CLIENT_METADATA = 1024


class DeliveryOptions(BaseModel):
    """How to answer a capture. Validated as part of ``CaptureOptions``."""

    # A mixin of CaptureOptions, never validated alone: only the whole model is built.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              defer_build=True)

    response_type: ResponseType = Field(
        default="image", description="image (the bytes), base64 (JSON with the bytes) or json.")
    cache: Bool = Field(default=True, description="Read the cache (false: capture afresh).")
    cache_ttl: Annotated[int, Field(ge=60, le=2_592_000)] | None = Field(
        default=None, description="Seconds to keep the result (default CACHE_TTL_SECONDS).")
    async_: Bool = Field(default=False, alias="async", description="Queue a job and answer 202.")
    webhook_url: Annotated[str, Field(max_length=MAX_URL_LENGTH)] | None = Field(
        default=None, description="POSTed the job's outcome (needs async=true).")
    webhook_secret: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="Signs the webhook (HMAC-SHA256).")
    download: Bool = Field(default=False, description="Content-Disposition: attachment.")
    store: Bool = Field(
        default=False, description="Keep the result in the result storage (STORAGE_TYPE); "
        "always on for jobs and batch items when storage is on.")
    signed_link: Bool = Field(
        default=False, description="Add signed_url: a link to the stored result that anyone "
        "may open until it expires (implies store; needs SIGNING_SECRET).")
    signed_link_expires_in: Annotated[int, Field(ge=60, le=604_800)] = Field(
        default=3600, description="Seconds the signed_url works.")
    client_metadata: dict[str, Any] | None = Field(
        default=None, description="Your own JSON object (at most 1 KB), echoed back on the "
        "job and its webhook; the nested body's metadata object.")

    @pydantic.field_validator("client_metadata", mode="before")
    @classmethod
    def _small_metadata(cls, value: Any) -> Any:
        value = parse_json(value)
        if value is not None:
            if not isinstance(value, dict):
                raise PydanticCustomError("client_metadata", "must be a JSON object")
            size = len(json.dumps(value, separators=(",", ":")).encode("utf-8"))
            if size > MAX_CLIENT_METADATA:
                raise PydanticCustomError(
                    "client_metadata", "is {size} bytes as JSON; at most {limit}",
                    {"size": size, "limit": MAX_CLIENT_METADATA})
        return value

    @pydantic.model_validator(mode="after")
    def _check_webhook(self) -> DeliveryOptions:
        if self.webhook_url is not None:
            if not self.async_:
                raise PydanticCustomError("webhook", "webhook_url needs async=true")
            try:
                url = check_url(self.webhook_url)
            except PydanticCustomError as exc:
                raise PydanticCustomError(
                    "invalid_webhook_url", "webhook_url: {err}", {"err": exc.message()}
                ) from None
            object.__setattr__(self, "webhook_url", url)  # frozen; this is its constructor
        if self.webhook_secret is not None and self.webhook_url is None:
            raise PydanticCustomError("webhook_secret", "webhook_secret needs webhook_url")
        return self
