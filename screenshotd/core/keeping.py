"""Keeping captures in the result storage: what a stored capture holds, the checks on
``store`` and ``signed_link``, and the links an answer gives (``result_url``, ``storage_url``,
``signed_url``). :class:`~screenshotd.core.storage.ResultStore` is the store itself; this is
what the service and the job manager ask of it.
"""

from __future__ import annotations

import json
from typing import Any

from screenshotd import errors
from screenshotd.auth.signing import Signer
from screenshotd.core.results import CaptureResult
from screenshotd.core.storage import CONTENT_TYPES, ResultStore, StoredResult
from screenshotd.params.capture import CaptureOptions


def check(opts: CaptureOptions, results: ResultStore | None, signer: Signer | None) -> None:
    """A 400 naming ``store`` or ``signed_link`` when this server cannot do what they ask."""
    field = "signed_link" if opts.signed_link else "store"
    if results is None:
        raise errors.ValidationError(
            f"{field} needs result storage, which is off here (STORAGE_TYPE=none)", field=field)
    if opts.signed_link and signer is None and not results.presigned:
        raise errors.ValidationError(
            "signed_link needs SIGNING_SECRET (or S3_PRESIGNED_LINKS), which is not set here",
            field="signed_link")


async def store(results: ResultStore, signer: Signer | None, result: CaptureResult, owner: str,
                opts: CaptureOptions, base_url: str) -> dict[str, Any]:
    """Keep a capture for ``owner``: its image (or PDF), its content in each format extracted,
    and its metadata. The links an answer gives (:func:`links`). Raises
    :class:`~screenshotd.core.storage.StorageError`."""
    outputs: dict[str, tuple[bytes, str]] = {"screenshot": (result.data, result.content_type)}
    for content_format, text in result.contents.items():
        outputs[content_format] = (text.encode("utf-8"), CONTENT_TYPES[content_format])
    if result.metadata is not None:
        outputs["metadata"] = (json.dumps(result.metadata, ensure_ascii=False).encode(),
                               CONTENT_TYPES["metadata"])
    summary = {"url": result.url, "final_url": result.final_url, "format": result.format,
               "width": result.width, "height": result.height,
               "full_page": opts.full_page, "cache_key": result.cache_key}
    record = await results.save(owner, outputs, summary)
    return await links(results, signer, record, base_url,
                       opts.signed_link_expires_in if opts.signed_link else None)


async def links(results: ResultStore, signer: Signer | None, record: StoredResult,
                base_url: str, signed_for: int | None = None) -> dict[str, Any]:
    """What an answer says of a stored result: its id, its expiry, and per output its
    ``result_url`` (for its owner), ``storage_url`` (``S3_PUBLIC_BASE_URL``) and, with
    ``signed_for`` seconds, a ``signed_url`` anyone may open: the path and expiry signed with
    ``SIGNING_SECRET``, or an S3 presigned URL (``S3_PRESIGNED_LINKS``)."""
    outputs = {}
    for name, info in record.outputs.items():
        path = f"/results/{record.id}/{name}"
        entry = {**info, "result_url": base_url + path,
                 "storage_url": results.public_url(record.id, name)}
        if signed_for is not None:
            if results.presigned:
                entry["signed_url"] = await results.presign(record.id, name, signed_for)
            elif signer is not None:
                expires = str(int(results.clock() + signed_for))
                signature = signer.signature([("path", path), ("expires", expires)])
                entry["signed_url"] = f"{base_url}{path}?expires={expires}&signature={signature}"
        outputs[name] = entry
    return {"result_id": record.id, "expires_at": record.expires_at, "outputs": outputs}
