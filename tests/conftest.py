"""The fixtures: the test site, Redis, a webhook receiver and the shared screenshotd server.
The helpers they are made of live in :mod:`tests.support`.

Integration tests are real: Chromium renders pages that the test site serves on 127.0.0.1,
through a real uvicorn serving :func:`screenshotd.http.app.create_app`. Nothing is skipped when
Chromium is missing; the pool fails to start and the tests fail loudly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.s3 import S3Server
from tests.support.servers import (
    SERVER_ERRORS,
    RedisServer,
    Running,
    WebhookReceiver,
    make_settings,
    run_server,
)
from tests.support.site import Site, serve_site


@pytest.fixture(scope="session", autouse=True)
def no_server_errors() -> Iterator[None]:
    """Across the whole suite, no test server answers a 500 that a test did not provoke on
    purpose (tests/support/servers.SERVER_ERRORS)."""
    yield
    assert not SERVER_ERRORS, f"servers answered 5xx: {SERVER_ERRORS[:20]}"


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    with serve_site() as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for one test, which it may kill, pause and restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One real S3 server (SeaweedFS) for the session, with a bucket and credentials."""
    with S3Server() as server:
        yield server


@pytest.fixture
def own_s3() -> Iterator[S3Server]:
    """An S3 server for one test, which it may pause, kill and start again."""
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
async def server() -> AsyncIterator[Running]:
    """The shared server: 3 slots, loopback allowed for the test site."""
    async with run_server(make_settings()) as running:
        yield running


@pytest.fixture
def client(server: Running) -> httpx.AsyncClient:
    return server.client


@pytest.fixture
def captures(server: Running) -> Iterator[list[Any]]:
    """The options of every real capture the shared server starts during the test."""
    seen: list[Any] = []
    server.service.capture_hooks.append(seen.append)
    yield seen
    server.service.capture_hooks.remove(seen.append)
