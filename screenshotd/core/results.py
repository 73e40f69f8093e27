"""What the road produces and the cache keeps.

- :class:`CaptureResult`: one capture, fresh or a cache hit, with everything the answer may
  carry (size, timing, the page's final URL and status, blocked requests, content, metadata).
- :class:`StoredImage`: what the cache holds under a key, as ``GET /images/{key}.{ext}`` and a
  diff's ``cache_key`` source read it.

Two kinds of entry are stored: a capture (written by the service, the whole
:class:`CaptureResult` beside the bytes) and a diff image (written by
:class:`~screenshotd.core.diffs.DiffService`, with pixelmatch's numbers). Both begin with the
same fields, :data:`IMAGE_FIELDS`, and a StoredImage is those fields: enough to serve the bytes
with the right type and headers, and to decide who may see them.

Who may see an entry (:meth:`StoredImage.visible_to`): a capture, a caller who could have made it
(a key limited to some domains sees captures of those hosts only, and no raw html); a diff
image, any caller that holds its key, a SHA-256 over both images' bytes, which nobody guesses
without having both images.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from screenshotd.auth.callers import Caller
from screenshotd.core.cache import Entry

log = logging.getLogger(__name__)

Kind = Literal["capture", "diff"]

@dataclass
class CaptureResult:
    data: bytes
    format: str
    content_type: str
    width: int | None
    height: int | None
    render_time_ms: int
    truncated: bool
    cache_key: str
    url: str | None
    final_url: str | None
    http_status: int | None
    #: Requests of the page that were not made: refused by the private-network guard (or the
    #: scheme rule), or blocked by block_ads, block_trackers or block_requests.
    blocked_requests: int = 0
    #: The same, by reason: "guard", "ads", "trackers", "requests" (only reasons that occurred).
    blocked: dict[str, int] = field(default_factory=dict)
    #: extract_content's text, and metadata's fields, when asked for.
    content: str | None = None
    #: The page's content in every format extracted (``extract_content``'s and ``outputs``').
    contents: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    cached: bool = False
    #: Seconds the result stays cached, and whether it was stored (``image_url`` needs both).
    ttl: int = 0
    stored: bool = False
    #: Seconds since a cached result was stored (the HTTP ``Age``); 0 for a fresh capture.
    age: int = 0
    #: Whether the page settled before the shot (``wait_for_stable``); None: not waited for.
    stable: bool | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_meta(self) -> dict[str, Any]:
        """What the cache keeps beside the bytes."""
        meta = asdict(self)
        for name in _NOT_IN_META:
            del meta[name]
        meta["kind"] = "capture"  # a StoredImage's fields are a subset of these
        return meta

    @staticmethod
    def whole(entry: Entry) -> bool:
        """Whether ``entry``'s meta holds a whole result (every field but the later ones)."""
        return _REQUIRED_FIELDS <= entry.meta.keys()

    @classmethod
    def from_entry(cls, entry: Entry) -> CaptureResult | None:
        """A cache hit: the stored result, with the hit's render time of 0. None when the
        entry's meta is not a whole result (written by something else): a miss, not a 500."""
        if not cls.whole(entry):
            log.warning("cache entry with incomplete meta ignored: %s", sorted(entry.meta)[:20])
            return None
        meta = {k: v for k, v in entry.meta.items() if k in _META_FIELDS}
        meta["render_time_ms"] = 0
        return cls(data=entry.data, **meta, cached=True, ttl=entry.ttl, stored=True,
                   age=entry.age())


_NOT_IN_META = ("data", "cached", "ttl", "stored", "age")
_META_FIELDS = frozenset(f.name for f in fields(CaptureResult)) - set(_NOT_IN_META)
#: Fields added after entries were cached without them: optional in an entry's meta.
_LATER_FIELDS = frozenset({"stable"})
_REQUIRED_FIELDS = _META_FIELDS - _LATER_FIELDS


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
