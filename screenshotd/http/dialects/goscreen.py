"""Seed ``000``, GoScreenAPI v1: ``/api/v1/...`` with ``Authorization: Bearer``.

A screenshot request is a job (``async`` defaults to true; ``false`` waits for it), its
``request_id`` the job's id as a UUID. ``image_url`` is a signed link that opens with nothing
(``signed_link_expires_in`` caps its life). Webhooks carry the document's payload, signed
``X-GSS-Signature: <hex HMAC-SHA256 of the raw body>`` under ``webhook_secret``. Validation
errors are ``422`` with ``errors: {field: [message]}``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from screenshotd import errors
from screenshotd.core.jobs.records import Batch, Job, JobState, iso
from screenshotd.core.jobs.webhooks import Delivery, WebhookStyle, hex_signature
from screenshotd.http.account_routes import quota_and_usage
from screenshotd.http.dialects import base
from screenshotd.http.dialects.base import Face, Links
from screenshotd.http.dialects.goscreen_reference import (
    MAX_BATCH,
    OPERATIONS,
    PER_PAGE_MAX,
    PREFIX,
)
from screenshotd.http.job_routes import bounded_int, event_stream
from screenshotd.http.routes import base_url, caller, in_thread_if_large, json_body, query_params
from screenshotd.params.capture import CaptureOptions
from screenshotd.params.diff import DiffOptions
from screenshotd.params.og import OgOptions

STATES = base.LOWERCASE
#: The document's fields that have another name here.
RENAMED = {"block_cookies": "block_cookie_banners", "js_scenario": "scripts", "css": "styles"}
#: The document's fields that are the native ones as they are.
SAME = frozenset({
    "url", "html", "device", "width", "height", "format", "quality", "full_page", "block_ads",
    "stealth", "delay", "timeout", "scroll_to", "proxy_country", "selector", "cache_ttl",
    "webhook_url", "webhook_secret"})
FIELDS = SAME | set(RENAMED) | {"async", "theme", "wait_for", "headers", "signed_link",
                                "signed_link_expires_in"}
BATCH_ITEM_FIELDS = frozenset({"url", "html", "device", "format", "full_page", "width", "height",
                               "webhook_url"})
PER_PAGE_DEFAULT = 15
#: ``image_url``'s life after the capture when the request says ``signed_link`` without
#: ``signed_link_expires_in`` (the document's default).
SIGNED_LINK_DEFAULT_S = 3600


def error_body(error: errors.ScreenshotError) -> tuple[int, dict[str, Any]]:
    invalid = isinstance(error, errors.ValidationError | errors.InvalidURL)
    body: dict[str, Any] = {"status": "error", "message": error.message, "code": error.code}
    if invalid:
        body["errors"] = {error.field or "url": [error.message]}
    if isinstance(error, errors.RetryableError):
        body["retry_after"] = error.retry_after
    return (422 if invalid else error.status), body


# --------------------------------------------------------------------------- the request

#: Native fields as this document names them, for errors.
FACE_NAMES = {native: name for name, native in RENAMED.items()} | {
    "dark_mode": "theme", "wait_for_selector": "wait_for"}



def options(request: Request, given: dict[str, Any], *, batch_item: str = "") -> CaptureOptions:
    """The native options for a screenshot request (or a batch item, named ``batch_item``)."""
    base.refuse_unknown(given, BATCH_ITEM_FIELDS if batch_item else FIELDS, batch_item)
    params: dict[str, Any] = {name: given[name] for name in SAME if name in given}
    params.update({native: given[name] for name, native in RENAMED.items() if name in given})
    if "js_scenario" in given and len(str(given["js_scenario"])) > 4096:
        raise errors.ValidationError("js_scenario is at most 4096 characters", field="js_scenario")
    if "css" in given and len(str(given["css"])) > 65535:
        raise errors.ValidationError("css is at most 65535 characters", field="css")
    theme = given.get("theme", "light")
    if theme not in ("light", "dark"):
        raise errors.ValidationError("theme must be light or dark", field="theme")
    params["dark_mode"] = theme == "dark"
    wait_for = given.get("wait_for")
    if wait_for is not None and wait_for != "":
        if isinstance(wait_for, int) and not isinstance(wait_for, bool) or (
                isinstance(wait_for, str) and wait_for.strip().isdigit()):
            ms = int(wait_for)
            if ms > 10000:
                raise errors.ValidationError("wait_for is at most 10000 ms", field="wait_for")
            params["delay"] = max(ms, int(params.get("delay") or 0))
        elif isinstance(wait_for, str):
            params["wait_for_selector"] = wait_for
        else:
            raise errors.ValidationError("wait_for must be a CSS selector or a number of ms",
                                         field="wait_for")
    if "headers" in given and given["headers"] not in (None, ""):
        raw = given["headers"]
        try:
            headers = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise errors.ValidationError("headers must be a JSON object", field="headers") from None
        if not isinstance(headers, dict):
            raise errors.ValidationError("headers must be a JSON object", field="headers")
        if len(headers) > 10:
            raise errors.ValidationError("headers has at most 10 keys", field="headers")
        params["headers"] = headers
    signed = given.get("signed_link", False)
    if not isinstance(signed, bool):
        raise errors.ValidationError("signed_link must be true or false", field="signed_link")
    if signed:
        params["signed_link_expires_in"] = given.get("signed_link_expires_in",
                                                     SIGNED_LINK_DEFAULT_S)
    elif "signed_link_expires_in" in given:
        base.bounded(given["signed_link_expires_in"], "signed_link_expires_in", 60, 604800)
    try:
        return base.parse(request, params)
    except errors.ScreenshotError as exc:
        if exc.field is not None:
            exc.field = batch_item + FACE_NAMES.get(exc.field, exc.field)
        raise


def image_url(links: Links, job: Job) -> str | None:
    """The job's image, opening with nothing: while the job (or its stored result) is kept,
    or for ``signed_link_expires_in`` seconds after it finished when the request signed it."""
    opts = job.opts
    expires = None
    if opts is not None and "signed_link_expires_in" in opts.model_fields_set \
            and job.completed_at is not None:
        expires = job.completed_at + opts.signed_link_expires_in
    return links.job(job, expires)


def item(links: Links, face: Face, job: Job) -> dict[str, Any]:
    """A request as the poll and the history show it."""
    opts = job.opts
    result = base.result_of(job)
    body: dict[str, Any] = {
        "id": str(uuid.UUID(hex=job.id)), "url": job.url, "status": face.state(job),
        "format": opts.format if opts is not None else None,
        "device": opts.device if opts is not None else None,
        "image_url": image_url(links, job),
        "duration_ms": base.duration_ms(job),
        "cache_hit": result.cached if result is not None else False,
        "requested_at": iso(job.created_at), "completed_at": iso(job.completed_at),
    }
    if job.error is not None:
        body["error_message"] = job.error.message
        body["error_code"] = job.error.code
    return body


async def quota(request: Request) -> dict[str, Any]:
    """The ``quota`` block, from the key's monthly quota (null values without one)."""
    counted, _ = await quota_and_usage(caller(request))
    counted = counted or {}
    return {"monthly_quota": counted.get("monthly_quota"),
            "monthly_used": counted.get("monthly_used"),
            "monthly_remaining": counted.get("monthly_remaining"),
            "overage_active": False}


# --------------------------------------------------------------------------- the face


def make(links: Links) -> Face:
    face: Face

    def poll_url(request: Request, job: Job) -> str:
        return f"{base_url(request)}{PREFIX}screenshot/{uuid.UUID(hex=job.id)}"

    async def create(request: Request) -> Response:
        given = await json_body(request)
        opts = options(request, given)
        wait = given.get("async", True)
        if not isinstance(wait, bool):
            raise errors.ValidationError("async must be true or false", field="async")
        job = await base.submit(request, face, opts)
        request_id = str(uuid.UUID(hex=job.id))
        if wait is False:
            job = await base.finish(request, job)
            if job.status is JobState.COMPLETED:
                return JSONResponse({
                    "status": "completed", "request_id": request_id,
                    "image_url": image_url(links, job), "duration_ms": base.duration_ms(job),
                    "async": False, "quota": await quota(request)})
            if job.error is not None:
                status, body = error_body(job.error)
                return JSONResponse({**body, "request_id": request_id}, status_code=status,
                                    headers=job.error.headers())
        return JSONResponse({
            "status": face.state(job), "request_id": request_id,
            "poll_url": poll_url(request, job), "async": True,
            "quota": await quota(request)}, status_code=202)

    async def poll(request: Request) -> Response:
        job = await base.find(request, face, request.path_params["id"])
        return JSONResponse({"status": "success", "request": item(links, face, job)})

    async def stream(request: Request) -> Response:
        job = await base.find(request, face, request.path_params["id"])

        def shape(event: str, job: Job) -> dict[str, Any]:
            data: dict[str, Any] = {"request_id": str(uuid.UUID(hex=job.id)),
                                    "status": face.state(job)}
            if event == "completed":
                data.update(image_url=image_url(links, job), duration_ms=base.duration_ms(job))
            elif event == "failed":
                data["error_message"] = job.error.message if job.error else "cancelled"
            return data

        return event_stream(base.jobs_of(request), job, shape)

    async def history(request: Request) -> Response:
        params = query_params(request)
        base.refuse_unknown(params, {"status", "per_page", "page"})
        status = None
        if params.get("status"):
            wanted = [state for state, word in STATES.items() if word == params["status"]]
            if not wanted:
                raise errors.ValidationError(
                    "status must be queued, processing, completed or failed", field="status")
            status = wanted[0]
        per_page = bounded_int(params, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX)
        page = bounded_int(params, "page", 1, 1, 1_000_000)
        jobs, total = await base.jobs_of(request).fetch_jobs(caller(request).id, status, page,
                                                              per_page)
        return JSONResponse({
            "status": "success", "data": [item(links, face, job) for job in jobs],
            "meta": {"current_page": page, "per_page": per_page, "total": total,
                     "last_page": max(1, -(-total // per_page))}})

    async def me(request: Request) -> Response:
        who = caller(request)
        counted, _ = await quota_and_usage(who)
        return JSONResponse({
            "status": "success",
            # What a hosted dashboard keeps (an e-mail, a plan, a wallet) is not kept here.
            "user": {"name": who.name, "email": None, "plan": None, "overage_enabled": False,
                     "wallet_balance": None},
            "quota": {**(counted or {"monthly_quota": None, "monthly_used": None,
                                     "monthly_remaining": None, "reset_at": None}),
                      "overage_active": False}}, headers={"Cache-Control": "no-store"})

    async def batch(request: Request) -> Response:
        given = await json_body(request)
        base.refuse_unknown(given, {"requests", "callback_url"})
        requests = given.get("requests")
        if not isinstance(requests, list) or not requests:
            raise errors.ValidationError("requests must be a list of 1 to 50 requests",
                                         field="requests")
        if len(requests) > MAX_BATCH:
            raise errors.ValidationError(f"requests has at most {MAX_BATCH} items",
                                         field="requests")
        items: list[CaptureOptions | errors.ScreenshotError] = []
        for index, entry in enumerate(requests):
            where = f"requests.{index}."
            if not isinstance(entry, dict):
                raise errors.ValidationError("each request must be an object", field=where[:-1])
            items.append(options(request, entry, batch_item=where))
        service = request.app.state.service
        callback = None
        url = given.get("callback_url")
        if url is not None:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise errors.ValidationError("callback_url must be an http(s) URL",
                                             field="callback_url")
            try:
                await service.guard.check_url(url)
            except errors.Blocked as exc:
                raise exc.naming("callback_url") from None
            callback = Delivery(url, None, style=face.name)
        made = await base.jobs_of(request).submit_batch(caller(request), items, base_url(request),
                                                        callback, style=face.name)
        return JSONResponse({
            "status": "queued", "batch_id": str(uuid.UUID(hex=made.id)),
            "total_items": len(made.jobs),
            "poll_url": f"{base_url(request)}{PREFIX}batch/{uuid.UUID(hex=made.id)}"},
            status_code=202)

    def batch_json(made: Batch) -> dict[str, Any]:
        counts = made.counts()
        if made.finished:
            state = "completed"
        elif counts["queued"] == len(made.jobs):
            state = "queued"
        else:
            state = "processing"
        return {
            "status": "success", "batch_id": str(uuid.UUID(hex=made.id)), "batch_status": state,
            "total_items": len(made.jobs), "completed_items": counts["completed"],
            "failed_items": counts["failed"] + counts["cancelled"],
            "items": [{"request_id": str(uuid.UUID(hex=job.id)), "url": job.url,
                       "status": face.state(job), "image_url": image_url(links, job),
                       "duration_ms": base.duration_ms(job),
                       **({"error_message": job.error.message} if job.error else {})}
                      for job in made.jobs]}

    async def batch_status(request: Request) -> Response:
        batch_id = face.job_id(request.path_params["id"], "batch id")
        made = await base.jobs_of(request).fetch_batch(caller(request).id, batch_id)
        return JSONResponse(batch_json(made))

    async def diff(request: Request) -> Response:
        given = await json_body(request)
        base.refuse_unknown(given, {"request_id_1", "request_id_2", "threshold", "force"})
        sides = []
        for name in ("request_id_1", "request_id_2"):
            value = given.get(name)
            if not isinstance(value, str):
                raise errors.ValidationError(f"{name} is required", field=name)
            try:
                job = await base.find(request, face, value)
            except errors.NotFound:
                raise errors.ValidationError(f"{name}: no such request", field=name) from None
            result = base.result_of(job)
            if result is None or not result.data:
                raise errors.ValidationError(f"{name} must be a completed screenshot",
                                             field=name)
            if result.format not in ("png", "jpeg", "webp"):
                raise errors.ValidationError(f"{name} is a {result.format}, not an image",
                                             field=name)
            sides.append(result.data)
        threshold = given.get("threshold", 0.1)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
                or not 0 <= threshold <= 1:
            raise errors.ValidationError("threshold must be a number from 0 to 1",
                                         field="threshold")
        force = given.get("force", False)
        if not isinstance(force, bool):
            raise errors.ValidationError("force must be true or false", field="force")
        diffs = request.app.state.diffs
        outcome = await diffs.diff(
            sides[0], sides[1], DiffOptions(threshold=threshold),
            ttl=request.app.state.settings.cache_ttl_seconds, use_cache=not force,
            fields=("request_id_1", "request_id_2"))
        stats = outcome.stats
        size = stats["compared_size"]
        image = await in_thread_if_large(len(outcome.png), base64.b64encode, outcome.png)
        return JSONResponse({
            "status": "success",
            # The same pair and threshold are the same diff, and the same id.
            "diff_id": int(outcome.key[:12], 16), "cached": outcome.cached,
            "diff_percentage": stats["diff_percent"], "diff_pixels": stats["changed_pixels"],
            "compared_size": f"{size['width']}x{size['height']}", "threshold": threshold,
            "diff_image": "data:image/png;base64," + image.decode("ascii")})

    async def og_image(request: Request) -> Response:
        get = request.method in ("GET", "HEAD")
        given: dict[str, Any] = dict(query_params(request)) if get else await json_body(request)
        base.refuse_unknown(given, {"title", "description", "theme", "bg_color", "text_color",
                                    "logo_url", "redirect"})
        redirect = given.pop("redirect", True)
        if isinstance(redirect, str) and redirect in ("true", "false", "1", "0"):
            redirect = redirect in ("true", "1")
        if not isinstance(redirect, bool):
            raise errors.ValidationError("redirect must be true or false", field="redirect")
        og = OgOptions.parse(given)
        images = request.app.state.og
        who = caller(request)
        opts = images.capture_options(og, "image")
        result, opts = await images.render(og, who, opts)
        if result.cached:
            who.count_hit()
        if not result.stored:
            raise errors.ValidationError(
                "the image could not be kept for a link (the cache is off here)", field="redirect")
        url = links.cached(base_url(request), result.cache_key, result.format, who.id,
                           time.time() + result.ttl)
        if redirect:
            return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-cache"})
        return JSONResponse({"status": "success",
                             "request_id": str(uuid.UUID(hex=result.cache_key[:32])),
                             "image_url": url, "duration_ms": result.render_time_ms})

    def webhook_body(subject: Any, native: dict[str, Any]) -> dict[str, Any]:
        if isinstance(subject, Batch):
            return batch_json(subject)
        body = item(links, face, subject)
        return {"request_id": body.pop("id"), **{k: body[k] for k in (
            "status", "image_url", "duration_ms")}, "requested_at": body["requested_at"],
            "completed_at": body["completed_at"],
            **({"error_message": body["error_message"]} if "error_message" in body else {})}

    face = Face(
        name="000", title="GoScreenAPI v1", prefixes=(PREFIX,), id_prefix="", dashed=True,
        states=STATES, error_body=error_body,
        routes=[
            Route(f"{PREFIX}screenshot", create, methods=["POST"]),
            Route(f"{PREFIX}screenshot/{{id}}", poll, methods=["GET"]),
            Route(f"{PREFIX}screenshot/{{id}}/stream", stream, methods=["GET"]),
            Route(f"{PREFIX}screenshots", history, methods=["GET"]),
            Route(f"{PREFIX}me", me, methods=["GET"]),
            Route(f"{PREFIX}batch", batch, methods=["POST"]),
            Route(f"{PREFIX}batch/{{id}}", batch_status, methods=["GET"]),
            Route(f"{PREFIX}diff", diff, methods=["POST"]),
            Route(f"{PREFIX}og-image", og_image, methods=["GET", "POST"]),
        ],
        webhook=WebhookStyle(
            webhook_body, lambda secret, body: [("X-GSS-Signature", hex_signature(secret, body))],
            standard=False),
        query_key=(f"{PREFIX}screenshot/", "/stream", "key"),
        names=FACE_NAMES,
        operations=OPERATIONS,
    )
    return face

