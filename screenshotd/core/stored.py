"""StoredImage: what the cache holds under a key, as ``GET /images/{key}.{ext}`` and a diff's
``cache_key`` source read it.

Two kinds of entry are stored: a capture (written by the service, with the whole
:class:`~screenshotd.core.service.CaptureResult` beside the bytes) and a diff image (written
by :class:`~screenshotd.core.diffs.DiffService`, with pixelmatch's numbers). Both begin with the
same fields, :data:`IMAGE_FIELDS`, and this record is those fields: enough to serve the bytes
with the right type and headers, and to decide who may see them.

Who may see an entry (:meth:`StoredImage.visible_to`): a capture, a caller who could have made it
(a key limited to some domains sees captures of those hosts only, and no raw html); a diff
image, any caller that holds its key, a SHA-256 over both images' bytes, which nobody guesses
without having both images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from screenshotd.auth.callers import Caller
from screenshotd.core.cache import Entry

log = logging.getLogger(__name__)

Kind = Literal["capture", "diff"]

#: The fields every stored image's meta begins with.
IMAGE_FIELDS = ("kind", "format", "content_type", "width", "height", "url", "truncated")


@dataclass(frozen=True, slots=True)
class StoredImage:
    key: str
    data: bytes
    kind: Kind
    format: str
    content_type: str
    width: int | None
    height: int | None
    #: The page a capture was made from; None for raw html and for a diff.
    url: str | None
    truncated: bool
    #: Seconds the entry is kept, and seconds since it was stored (the HTTP ``Age``).
    ttl: int = 0
    age: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def to_meta(self) -> dict[str, Any]:
        """The fields the entry's meta begins with (:data:`IMAGE_FIELDS`)."""
        return {name: getattr(self, name) for name in IMAGE_FIELDS}

    @classmethod
    def from_entry(cls, key: str, entry: Entry) -> StoredImage | None:
        """The entry as a stored image; None (a miss, not a 500) when its meta lacks the
        fields, i.e. it was written by something else. Entries written before ``kind`` was
        stored are told apart by their diff numbers."""
        meta = entry.meta
        try:
            kind: Kind = "diff" if meta.get("kind") == "diff" or "diff" in meta else "capture"
            return cls(key, entry.data, kind, str(meta["format"]), str(meta["content_type"]),
                       meta.get("width"), meta.get("height"), meta.get("url"),
                       bool(meta.get("truncated")), entry.ttl, entry.age())
        except KeyError:
            log.warning("cache entry %s without an image's meta ignored", key[:16])
            return None

    def visible_to(self, caller: Caller) -> bool:
        return self.kind == "diff" or caller.may_see(self.url)
