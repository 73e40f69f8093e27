"""Result storage (``STORAGE_TYPE``): results kept beyond the cache and the process.

Three backends behind one :class:`ResultStore`:

- ``none``: nothing is kept beyond the cache and the job table (the embedded default);
- ``local``: files under ``LOCAL_STORAGE_PATH`` (``SAVE_TO_DISK=true`` is the shorthand);
- ``s3``: any S3-compatible store (AWS, MinIO, R2, SeaweedFS): ``S3_BUCKET``, ``S3_ENDPOINT``,
  ``S3_REGION``, ``S3_ACCESS_KEY``, ``S3_SECRET_KEY``, under ``S3_PREFIX``.

Both real backends are one client, obstore (Rust's ``object_store``): the same calls for a
directory and for a bucket, and it measured faster than aiobotocore for a 200 KB object
(``benchmarks/bench_storage.py``). Every call is bounded by ``STORAGE_TIMEOUT_SECONDS``.

**Layout.** A stored result is a few objects under one unguessable name, and a record:

    {prefix}results/{expiry hour}/{token}/{output}      the bytes (screenshot, markdown, ...)
    {prefix}results/{expiry hour}/{token}/record.json   owner, summary, outputs, times

The result id is ``{expiry hour, hex}-{token}``: 128 random bits, and the hour (Unix hours)
its retention ends in. The record is written last, and a result without one does not exist, so
a reader never sees a result that is half written; each object's write is itself atomic (the
local backend writes a temporary file and renames it, S3 replaces an object whole). The
sweeper deletes whole past hours, a bounded number of objects per run, without reading any
record.

**Failure.** A write or read that fails (or times out) marks the store ``degraded`` in
``/health``; the next call that works, or the sweeper's probe, marks it ``ok`` again. The
callers decide what a failure means: a capture still answers (``storage_error``), a job retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from cachetools import LRUCache
from obstore.exceptions import NotFoundError

from screenshotd import errors
from screenshotd.settings import Settings, SettingsError

log = logging.getLogger(__name__)

#: What a stored result may hold, and the names ``/results/{id}/{output}`` knows.
OUTPUTS = ("screenshot", "markdown", "html", "text", "metadata")
RESULT_ID = re.compile(r"([0-9a-f]{1,10})-([A-Za-z0-9_-]{22})")
RECORD = "record.json"
#: The content type of each output that is not the image itself.
CONTENT_TYPES = {"markdown": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
                 "text": "text/plain; charset=utf-8", "metadata": "application/json"}
#: Headers of a page's own markup (or anything stored) served from the service's origin: it
#: is never run as a page of this origin, and never sniffed into something else.
SANDBOXED = {"Content-Security-Policy": "sandbox; default-src 'none'",
             "X-Content-Type-Options": "nosniff"}
#: Bytes of recently stored or read outputs kept in memory, so that reading a result just
#: made (an <img> of a signed link, a job's result_url) does not go to the store.
RECENT_BYTES = 64 * 1024 * 1024
#: Objects the sweeper deletes at most per run; the rest wait for the next run.
SWEEP_BATCH = 1000
SWEEP_EVERY_S = 300.0
#: While degraded, how often the sweeper probes the store to notice it is back.
PROBE_EVERY_S = 5.0


#: What a store says when it refuses the credentials. 403 as a word: the message also carries
#: the endpoint's URL, whose port may contain those digits (a dead :40395 is not a refusal).
_REFUSED = re.compile(r"forbidden|accessdenied|signature|invalidaccesskey|unauthenticated"
                      r"|\b403\b")


class StorageError(errors.StorageUnavailable):
    """The result store failed (or did not answer in time). A capture answers without it
    (``storage_error``), a job retries; reading a stored result answers 503 with it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=5)


@dataclass
class StoredResult:
    """A result's record: what ``/results/{id}/…`` serves, and who may read it."""

    id: str
    owner: str
    created_at: float
    expires_at: float
    #: output name -> {"content_type", "size", "etag"}
    outputs: dict[str, dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "created_at": self.created_at,
                "expires_at": self.expires_at, "outputs": self.outputs, "summary": self.summary}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredResult:
        return cls(id=data["id"], owner=data["owner"], created_at=float(data["created_at"]),
                   expires_at=float(data["expires_at"]), outputs=dict(data["outputs"]),
                   summary=dict(data.get("summary") or {}))


def parse_id(result_id: str) -> tuple[str, str]:
    """A result id as (expiry hour, token); NOT_FOUND for anything no result can be called."""
    match = RESULT_ID.fullmatch(result_id)
    if match is None:
        raise errors.NotFound(f"no stored result {result_id[:80]!r}")
    return match.group(1), match.group(2)


def open_store(settings: Settings) -> Any:
    """The obstore store for ``settings`` (None for ``none``). Only builds it: nothing is
    contacted until :meth:`ResultStore.open`."""
    from obstore.store import LocalStore, S3Store

    kind = settings.storage_kind
    if kind == "local":
        return LocalStore(prefix=Path(settings.local_storage_path).resolve(), mkdir=True)
    if kind == "s3":
        # The client's own timeout is only a backstop, past the deadline every call
        # gets (ResultStore._call), so that the deadline, and its message, is the one that
        # fires.
        timeout = f"{int(settings.storage_timeout_seconds) + 2}s"
        options: dict[str, Any] = {"timeout": timeout, "connect_timeout": timeout}
        if settings.s3_endpoint.startswith("http://"):
            options["allow_http"] = True
        config: dict[str, Any] = {"region": settings.s3_region}
        if settings.s3_endpoint:
            config["endpoint"] = settings.s3_endpoint
            config["virtual_hosted_style_request"] = False
        if settings.s3_access_key:
            config["access_key_id"] = settings.s3_access_key
            config["secret_access_key"] = settings.s3_secret_key
        return S3Store(settings.s3_bucket, config=config,  # type: ignore[arg-type]
                       client_options=options,  # type: ignore[arg-type]
                       retry_config={"max_retries": 2, "backoff": {"init_backoff": timedelta(
                           milliseconds=100), "max_backoff": timedelta(seconds=1), "base": 2},
                           "retry_timeout": timedelta(seconds=settings.storage_timeout_seconds)})
    return None


class ResultStore:
    """Stores results and their records in one backend, and sweeps them when they expire."""

    def __init__(self, settings: Settings, store: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.kind = settings.storage_kind
        self.store = store if store is not None else open_store(settings)
        self.prefix = settings.s3_prefix.strip("/") + "/" if (
            self.kind == "s3" and settings.s3_prefix.strip("/")) else ""
        self.retention = settings.result_retention_seconds
        self.timeout = settings.storage_timeout_seconds
        self.required = settings.storage_required
        self.public_base = settings.s3_public_base_url.rstrip("/") if self.kind == "s3" else ""
        self.presigned = settings.s3_presigned_links and self.kind == "s3"
        self.settings = settings
        self.clock = clock
        self.state = "ok"
        self.last_error = ""
        self.counts = {"stored": 0, "stored_bytes": 0, "read": 0, "swept": 0, "failures": 0}
        self._records: LRUCache[str, StoredResult] = LRUCache(maxsize=4096)
        #: Recently stored or read outputs, by object path. Stored objects never change (every
        #: result has a new name), so a copy in memory is never stale.
        self._recent: LRUCache[str, bytes] = LRUCache(maxsize=RECENT_BYTES, getsizeof=len)
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> None:
        """Check the store works (a probe object written, read and deleted), then start the
        sweeper. A store that does not work stops the start with a :class:`SettingsError` that
        names the variable at fault, unless ``STORAGE_REQUIRED=false``: then it starts
        ``degraded`` and recovers when the store comes back."""
        try:
            await self.probe()
        except StorageError as exc:
            if self.required:
                raise SettingsError(self._blame(exc)) from None
            log.warning("result storage unavailable at start (%s); running degraded", exc.message)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(),
                                                               name="storage-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(BaseException):
                await self._sweeper
            self._sweeper = None

    def _blame(self, exc: StorageError) -> str:
        """The message that stops the start: which variable to look at, and what happened."""
        text = exc.message
        if self.kind == "local":
            return f"LOCAL_STORAGE_PATH: cannot store results in {self.settings.local_storage_path!r}: {text}"
        lowered = text.lower()
        if "nosuchbucket" in lowered or "not found" in lowered:
            return f"S3_BUCKET: the bucket {self.settings.s3_bucket!r} does not exist: {text}"
        if _REFUSED.search(lowered):
            return f"S3_ACCESS_KEY, S3_SECRET_KEY: the store refused them: {text}"
        return f"S3_ENDPOINT: cannot use {self.settings.s3_endpoint or 'AWS'!r}: {text}"

    async def probe(self) -> None:
        """Write, read and delete a small object; raise :class:`StorageError` if any fails."""
        name = f"{self.prefix}probe/{secrets.token_hex(8)}"
        await self._call(obstore.put_async(self.store, name, b"screenshotd"))
        got = await self._call(obstore.get_async(self.store, name))
        await self._call(got.bytes_async())
        await self._call(obstore.delete_async(self.store, name))

    # ------------------------------------------------------------------ results

    def new_id(self, now: float) -> str:
        hour = int((now + self.retention) // 3600) + 1  # the hour after the retention ends
        return f"{hour:x}-{secrets.token_urlsafe(16)}"

    def object_name(self, result_id: str, output: str) -> str:
        """The name of an output's object in the store (a batch's ``response_type=paths``):
        its key in the bucket, or its path under ``LOCAL_STORAGE_PATH``."""
        return self._path(result_id, output)

    def _path(self, result_id: str, name: str) -> str:
        hour, token = parse_id(result_id)
        return f"{self.prefix}results/{hour}/{token}/{name}"

    async def save(self, owner: str, outputs: dict[str, tuple[bytes, str]],
                   summary: dict[str, Any]) -> StoredResult:
        """Store ``outputs`` (name -> (bytes, content type)) for ``owner``: every output, then
        the record. Raises :class:`StorageError`; what was written before a failure is left
        for the sweeper (without a record it is never served)."""
        now = self.clock()
        result_id = self.new_id(now)
        described: dict[str, dict[str, Any]] = {}
        for name, (data, content_type) in outputs.items():
            if name not in OUTPUTS:
                raise ValueError(f"unknown output {name!r}")
            path = self._path(result_id, name)
            await self._call(obstore.put_async(self.store, path, data))
            self._remember(path, data)
            described[name] = {"content_type": content_type, "size": len(data),
                               "etag": hashlib.sha256(data).hexdigest()[:32]}
        record = StoredResult(result_id, owner, now, now + self.retention, described, summary)
        body = json.dumps(record.to_json(), separators=(",", ":")).encode()
        await self._call(obstore.put_async(self.store, self._path(result_id, RECORD), body))
        self._records[result_id] = record
        self.counts["stored"] += 1
        self.counts["stored_bytes"] += sum(len(data) for data, _ in outputs.values())
        return record

    async def record(self, result_id: str) -> StoredResult | None:
        """A result's record, or None when there is none (never stored, expired, swept)."""
        cached = self._records.get(result_id)
        if cached is None:
            data = await self._read(self._path(result_id, RECORD))
            if data is None:
                return None
            try:
                cached = StoredResult.from_json(json.loads(data))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable record for result %s: %r", result_id, exc)
                return None
            self._records[result_id] = cached
        if cached.expires_at <= self.clock():
            return None  # past its retention, even if the sweeper has not come by yet
        return cached

    async def read(self, result_id: str, output: str) -> bytes | None:
        """An output's bytes, or None when the store has none."""
        path = self._path(result_id, output)
        data = self._recent.get(path)
        if data is None:
            data = await self._read(path)
            if data is not None:
                self._remember(path, data)
        if data is not None:
            self.counts["read"] += 1
        return data

    def _remember(self, path: str, data: bytes) -> None:
        if len(data) <= RECENT_BYTES // 16:
            self._recent[path] = data

    async def _read(self, path: str) -> bytes | None:
        try:
            got = await self._call(obstore.get_async(self.store, path), missing_ok=True)
            if got is None:
                return None
            data = await self._call(got.bytes_async(), missing_ok=True)
        except _Missing:
            return None
        return None if data is None else bytes(data)

    def public_url(self, result_id: str, output: str) -> str | None:
        """``S3_PUBLIC_BASE_URL``'s address of an output (a CDN in front of the bucket)."""
        if not self.public_base:
            return None
        return f"{self.public_base}/{self._path(result_id, output)}"

    async def presign(self, result_id: str, output: str, expires_in: int) -> str:
        """An S3 presigned GET of an output (``S3_PRESIGNED_LINKS``)."""
        url = await self._call(obstore.sign_async(
            self.store, "GET", self._path(result_id, output), timedelta(seconds=expires_in)))
        return str(url)

    # ------------------------------------------------------------------ retention

    async def sweep(self, limit: int = SWEEP_BATCH) -> int:
        """Delete the objects of every hour whose results have all expired, at most ``limit``
        of them; how many were deleted."""
        now_hour = int(self.clock() // 3600)
        listing = await self._call(obstore.list_with_delimiter_async(
            self.store, f"{self.prefix}results/"))
        deleted = 0
        for hour_prefix in sorted(listing["common_prefixes"]):
            hour = hour_prefix.rstrip("/").rsplit("/", 1)[-1]
            try:
                if int(hour, 16) > now_hour:
                    continue
            except ValueError:
                continue
            paths: list[str] = []
            stream = obstore.list(self.store, f"{hour_prefix.rstrip('/')}/", chunk_size=200)
            try:
                async with asyncio.timeout(self.timeout):  # a listing is bounded like a call
                    async for chunk in stream:
                        paths.extend(meta["path"] for meta in chunk)
                        if len(paths) >= limit - deleted:
                            break
            except TimeoutError:
                self._failed(f"a listing took over {self.timeout:g} s")
                raise StorageError(
                    f"result storage did not list within {self.timeout:g} s") from None
            paths = paths[: limit - deleted]
            if paths:
                await self._call(obstore.delete_async(self.store, paths))
                for path in paths:
                    self._records.pop(_result_of(path), None)
                    self._recent.pop(path, None)
            deleted += len(paths)
            if deleted >= limit:
                break
        self.counts["swept"] += deleted
        return deleted

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY_S if self.state != "ok" else SWEEP_EVERY_S)
            try:
                if self.state != "ok":
                    await self.probe()
                await self.sweep()
            except StorageError as exc:
                log.info("storage sweep failed: %s", exc.message)
            except Exception:  # noqa: BLE001 - the sweeper must outlive any one failure
                log.exception("storage sweep crashed")

    # ------------------------------------------------------------------ calls

    async def _call(self, awaitable: Any, missing_ok: bool = False) -> Any:
        """Await one store call within the timeout; its failures become StorageError (and the
        store ``degraded``), a missing object None when ``missing_ok``."""
        try:
            result = await asyncio.wait_for(awaitable, self.timeout)
        except (NotFoundError, FileNotFoundError) as exc:
            if missing_ok:
                self._ok()
                raise _Missing from None
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "not found"
            self._failed(f"not found: {first}")
            raise StorageError(f"result storage: not found: {first}") from None
        except TimeoutError:
            self._failed(f"no answer within {self.timeout:g} s")
            raise StorageError(f"result storage did not answer within {self.timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - obstore's errors carry the store's message
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            self._failed(first)
            raise StorageError(f"result storage failed: {first}") from None
        self._ok()
        return result

    def _ok(self) -> None:
        if self.state != "ok":
            log.info("result storage is back")
        self.state, self.last_error = "ok", ""

    def _failed(self, why: str) -> None:
        if self.state == "ok":
            log.warning("result storage degraded: %s", why)
        self.state, self.last_error = "degraded", why
        self.counts["failures"] += 1

    def health(self) -> dict[str, Any]:
        return {"backend": self.kind, "state": self.state,
                **({"error": self.last_error} if self.last_error else {}),
                "retention_s": self.retention, **self.counts}


class _Missing(Exception):
    """An object that is not there (a read's normal miss, not a failure)."""


def _result_of(path: str) -> str:
    """The result id of an object path ``…results/{hour}/{token}/{name}``."""
    parts = path.rsplit("/", 3)
    return f"{parts[-3]}-{parts[-2]}" if len(parts) >= 3 else ""
