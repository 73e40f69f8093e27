"""``GET /me``: who the caller is to this server, and what it has left.

::

    {"key": {"name": "acme", "domains": ["acme.com"]},
     "rate_limit": {"limit": 120, "remaining": 117, "reset_at": "…"},
     "jobs": {"pending": 1, "max_pending": 10},
     "quota": {"monthly_quota": 10000, "monthly_used": 42, "monthly_remaining": 9958,
               "reset_at": "…"},
     "usage": {"renders_today": 3, "renders_month": 42, "hits_month": 310},
     "concurrency": {"max_concurrent": 2, "in_use": 1, "slots": 3}}

Without keys the caller is its address: ``key`` is null, and so are ``quota`` and ``usage``
(which are kept for keys). ``rate_limit`` is null where nothing limits the caller, and
``monthly_quota`` null for a key without one. ``concurrency.max_concurrent`` is the most browser
slots the caller holds at once (its key's ``max_concurrent``, else ``MAX_CONCURRENT_PER_CALLER``
when set), null when it has no cap of its own; ``in_use`` is how many it holds now on this
replica, of the replica's ``slots``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from screenshotd.auth.callers import Caller
from screenshotd.auth.ratelimit import WINDOW_S
from screenshotd.auth.usage import periods
from screenshotd.core.jobs.records import iso
from screenshotd.http.routes import caller


async def me(request: Request) -> Response:
    who = caller(request)
    state = request.app.state
    limiter = state.gatekeeper.limiter
    now = time.time()
    rate_limit: dict[str, Any] | None = None
    limit = who.rate_limit if who.rate_limit is not None else (limiter.limit if limiter else 0)
    if limiter is not None and limit > 0:
        used = await limiter.used(who.id)
        rate_limit = {"limit": limit, "remaining": max(0, limit - used),
                      "reset_at": iso((now // WINDOW_S + 1) * WINDOW_S)}
    quota, usage = await quota_and_usage(who, now)
    return JSONResponse({
        "key": None if who.name is None else {
            "name": who.name, "domains": list(who.domains) if who.domains else None},
        "rate_limit": rate_limit,
        "jobs": {"pending": await state.jobs.pending(who.id),
                 "max_pending": state.settings.max_pending_jobs},
        "quota": quota,
        "usage": usage,
        "concurrency": {"max_concurrent": state.gatekeeper.slot_cap(who.id),
                        "in_use": state.service.pool.admission.held_by(who.id),
                        "slots": state.settings.browser_max_concurrent},
    }, headers={"Cache-Control": "no-store"})


async def quota_and_usage(who: Caller, now: float | None = None) -> tuple[
        dict[str, Any] | None, dict[str, Any] | None]:
    """The caller's monthly quota (``monthly_quota``, ``monthly_used``, ``monthly_remaining``,
    ``reset_at``) and usage; both None for a caller without a named key."""
    if who.name is None or who.usage is None:
        return None, None
    usage: dict[str, Any] = await who.usage.report(who.name)
    used_month = usage["renders_month"]
    quota = {"monthly_quota": who.quota, "monthly_used": used_month,
             "monthly_remaining": None if who.quota is None else max(0, who.quota - used_month),
             "reset_at": iso(periods(time.time() if now is None else now)[2])}
    return quota, usage


routes = [Route("/me", me, methods=["GET"])]
