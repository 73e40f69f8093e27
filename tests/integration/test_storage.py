"""Result storage against real stores: a directory, and a real S3 server (SeaweedFS) with
credentials. Each backend: put, get, atomic overwrite, a missing object, the retention sweep
with an injected clock. Then the service: results that outlive the job, the cache and the
process, signed and presigned links, the owner check, and a store that goes away."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import obstore
import pytest

from screenshotd.auth.signing import Signer
from screenshotd.core.storage import ResultStore, StorageError
from screenshotd.settings import Settings, SettingsError
from tests.support.s3 import S3Server
from tests.support.servers import make_settings, run_server, serve_process
from tests.support.site import Site

SECRET = "a-signing-secret-for-the-tests-0123"


def storage_settings(kind: str, tmp_path: Path, s3: S3Server, **more: Any) -> Settings:
    if kind == "local":
        return Settings(storage_type="local", local_storage_path=str(tmp_path / "results"),
                        **more)
    env = s3.env()
    return Settings(storage_type="s3", s3_bucket=env["S3_BUCKET"], s3_endpoint=env["S3_ENDPOINT"],
                    s3_access_key=env["S3_ACCESS_KEY"], s3_secret_key=env["S3_SECRET_KEY"],
                    s3_prefix=f"t{os.getpid()}-{time.monotonic_ns()}", **more)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "s3"])
async def store(request: Any, tmp_path: Path, s3: S3Server) -> AsyncIterator[ResultStore]:
    clock = Clock()
    results = ResultStore(storage_settings(request.param, tmp_path, s3,
                                           result_retention_seconds=3600), clock=clock)
    await results.open()
    try:
        yield results
    finally:
        await results.close()


# ---------------------------------------------------------------- each backend


async def test_put_and_get(store: ResultStore):
    data = os.urandom(200_000)
    record = await store.save("key:a", {"screenshot": (data, "image/png")}, {"url": "x"})
    assert await store.read(record.id, "screenshot") == data  # from memory: just stored
    store._recent.clear()
    assert await store.read(record.id, "screenshot") == data  # from the store
    again = await store.record(record.id)
    assert again is not None and again.owner == "key:a"
    assert again.outputs["screenshot"] == {"content_type": "image/png", "size": 200_000,
                                           "etag": hashlib.sha256(data).hexdigest()[:32]}
    store._records.clear()  # read back from the store itself, not the memory of it
    fresh = await store.record(record.id)
    assert fresh is not None and fresh.to_json() == record.to_json()


async def test_a_missing_object_is_none(store: ResultStore):
    record = await store.save("key:a", {"screenshot": (b"png", "image/png")}, {})
    assert await store.read(record.id, "markdown") is None
    other = store.new_id(time.time())
    assert await store.record(other) is None
    assert await store.read(other, "screenshot") is None
    assert store.state == "ok"  # a miss is not a failure


async def test_an_overwrite_is_atomic(store: ResultStore):
    """Readers racing a writer that replaces a 2 MB object see the old bytes or the new, never
    a mixture or a part."""
    record = await store.save("key:a", {"screenshot": (b"a" * 2_000_000, "image/png")}, {})
    path = store._path(record.id, "screenshot")
    versions = {b"a" * 2_000_000, b"b" * 2_000_000}
    stop = asyncio.Event()
    seen: set[int] = set()

    async def write() -> None:
        for i in range(10):
            await obstore.put_async(store.store, path, b"ab"[i % 2:i % 2 + 1] * 2_000_000)
        stop.set()

    async def read() -> None:
        while not stop.is_set():
            data = await store._read(path)  # the store itself, not the copy in memory
            assert data in versions, (len(data or b""), (data or b"")[:1])
            seen.add(data[0] if data else 0)

    await asyncio.gather(write(), read(), read())
    assert seen  # the readers did read


async def test_the_sweep_deletes_what_expired_and_nothing_else(store: ResultStore):
    clock = store.clock
    assert isinstance(clock, Clock)
    old = await store.save("key:a", {"screenshot": (b"old", "image/png"),
                                     "markdown": (b"# old", "text/markdown")}, {})
    clock.now += 1800
    young = await store.save("key:a", {"screenshot": (b"young", "image/png")}, {})
    clock.now += 1900  # the old one's retention (3600 s) is over, the young one's is not
    assert await store.record(old.id) is None  # past its time even before the sweep
    assert await store.record(young.id) is not None
    clock.now += 3600  # and the sweep deletes whole hours after they end
    young_expired = young.expires_at <= clock.now
    deleted = await store.sweep()
    assert deleted >= 3  # the old result's two outputs and its record
    assert await store.read(old.id, "screenshot") is None
    assert await store.read(old.id, "markdown") is None
    if not young_expired:
        assert await store.read(young.id, "screenshot") == b"young"


async def test_the_sweep_is_bounded_per_run(store: ResultStore):
    clock = store.clock
    assert isinstance(clock, Clock)
    records = [await store.save("key:a", {"screenshot": (b"x", "image/png")}, {})
               for _ in range(5)]
    clock.now += 3 * 3600 + store.retention
    assert await store.sweep(limit=4) == 4
    assert await store.sweep(limit=4) == 4
    assert await store.sweep(limit=4) == 2
    for record in records:
        assert await store.read(record.id, "screenshot") is None


# ---------------------------------------------------------------- start-up checks


async def test_a_missing_bucket_stops_the_start_naming_it(s3: S3Server):
    settings = Settings(storage_type="s3", s3_bucket="no-such-bucket", s3_endpoint=s3.endpoint,
                        s3_access_key="screenshotd-test", s3_secret_key="screenshotd-test-secret-key",
                        storage_timeout_seconds=5)
    with pytest.raises(SettingsError, match="^S3_BUCKET: .*no-such-bucket"):
        await ResultStore(settings).open()


def test_the_blame_reads_a_403_only_as_a_word():
    """A dead endpoint whose port holds the digits 403 (:40395) was once blamed on the keys."""
    store = ResultStore(Settings(storage_type="s3", s3_bucket="results",
                                 s3_endpoint="http://127.0.0.1:40395", s3_access_key="a",
                                 s3_secret_key="b"))
    dead = StorageError("result storage failed: Generic S3 error: Error performing PUT "
                        "http://127.0.0.1:40395/results/probe/0207 in 291ms - HTTP error: "
                        "error sending request")
    assert store._blame(dead).startswith("S3_ENDPOINT: ")
    refused = StorageError("result storage failed: HTTP status client error (403 Forbidden)")
    assert store._blame(refused).startswith("S3_ACCESS_KEY, S3_SECRET_KEY: ")


async def test_a_dead_endpoint_stops_the_start_naming_it():
    from tests.support.servers import free_port

    settings = Settings(storage_type="s3", s3_bucket="results",
                        s3_endpoint=f"http://127.0.0.1:{free_port()}", s3_access_key="a",
                        s3_secret_key="b", storage_timeout_seconds=2)
    with pytest.raises(SettingsError, match="^S3_ENDPOINT: "):
        await ResultStore(settings).open()
    # unless storage is not required: then it starts degraded
    lenient = ResultStore(Settings(**{**settings.__dict__, "storage_required": False}))
    await lenient.open()
    try:
        assert lenient.health()["state"] == "degraded"
    finally:
        await lenient.close()


async def test_wrong_credentials_stop_the_start_naming_them(s3: S3Server):
    settings = Settings(storage_type="s3", s3_bucket=s3.bucket, s3_endpoint=s3.endpoint,
                        s3_access_key="screenshotd-test", s3_secret_key="not-the-secret",
                        storage_timeout_seconds=5)
    with pytest.raises(SettingsError, match="^S3_ACCESS_KEY, S3_SECRET_KEY: "):
        await ResultStore(settings).open()


def test_settings_that_do_not_go_together_are_refused():
    with pytest.raises(SettingsError, match="^S3_BUCKET: "):
        Settings.from_env({"STORAGE_TYPE": "s3"})
    with pytest.raises(SettingsError, match="^S3_ENDPOINT: "):
        Settings.from_env({"STORAGE_TYPE": "s3", "S3_BUCKET": "b", "S3_ENDPOINT": "ftp://x"})
    with pytest.raises(SettingsError, match="^S3_PRESIGNED_LINKS: "):
        Settings.from_env({"S3_PRESIGNED_LINKS": "true"})
    assert Settings.from_env({"SAVE_TO_DISK": "true"}).storage_kind == "local"


# ---------------------------------------------------------------- the service


@pytest.fixture(params=["local", "s3"])
def storage_env(request: Any, tmp_path: Path, s3: S3Server) -> Iterator[dict[str, str]]:
    if request.param == "local":
        yield {"STORAGE_TYPE": "local", "LOCAL_STORAGE_PATH": str(tmp_path / "results"),
               "SIGNING_SECRET": SECRET}
    else:
        yield s3.env(S3_PREFIX=f"serve-{time.monotonic_ns()}", SIGNING_SECRET=SECRET)


def finished_job(base: str, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    for _ in range(300):
        job = httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] not in ("queued", "processing"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_result_outlives_the_process(storage_env: dict[str, str], site: Site):
    """A job's result_url serves the same bytes after the server that made it has stopped and
    another has started on the same store: the job record and the cache are gone."""
    params = {"url": site.url("/pages/basic?stored"), "async": "true", "extract_content": "true",
              "metadata": "true"}
    with serve_process(storage_env) as first:
        submitted = httpx.post(f"{first.base}/screenshot", json=params, timeout=10).json()
        job = finished_job(first.base, submitted["job_id"])
        assert job["status"] == "completed", job
        assert job["result_id"] and job["result_url"].endswith(
            f"/results/{job['result_id']}/screenshot")
        assert set(job["outputs"]) == {"screenshot", "markdown", "metadata"}
        assert job["outputs"]["screenshot"]["content_type"] == "image/png"
        image = httpx.get(job["result_url"], timeout=10)
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        markdown = httpx.get(job["outputs"]["markdown"]["result_url"], timeout=10)
        assert markdown.headers["content-type"].startswith("text/markdown")
        path = job["result_url"].split("/", 3)[3]
    with serve_process(storage_env) as second:
        assert httpx.get(f"{second.base}/jobs/{job['id']}", timeout=10).status_code == 404
        again = httpx.get(f"{second.base}/{path}", timeout=10)
        assert again.status_code == 200 and again.content == image.content
        assert again.headers["etag"] == image.headers["etag"]
        revalidated = httpx.get(f"{second.base}/{path}", timeout=10,
                                headers={"If-None-Match": again.headers["etag"]})
        assert revalidated.status_code == 304
        assert "private" in again.headers["cache-control"]
        health = httpx.get(f"{second.base}/health", timeout=10).json()
        assert health["storage"]["state"] == "ok"
        assert health["storage"]["backend"] == storage_env["STORAGE_TYPE"]


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[Any]:
    settings = make_settings(api_keys=("key-one", "key-two"), signing_secret=SECRET,
                             storage_type="local", local_storage_path=str(tmp_path / "r"))
    async with run_server(settings) as server:
        yield server


async def stored_capture(server: Any, site: Site, key: str, **more: Any) -> dict[str, Any]:
    response = await server.client.get("/screenshot", headers={"X-Api-Key": key}, params={
        "url": site.url(f"/pages/basic?k={time.monotonic_ns()}"), "store": "true",
        "response_type": "json", **more})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_stored_capture_is_its_owners_alone(keyed: Any, site: Site):
    body = await stored_capture(keyed, site, "key-one")
    path = body["result_url"].split("/", 3)[3]
    mine = await keyed.client.get(f"/{path}", headers={"X-Api-Key": "key-one"})
    assert mine.status_code == 200 and mine.headers["content-type"] == "image/png"
    theirs = await keyed.client.get(f"/{path}", headers={"X-Api-Key": "key-two"})
    assert theirs.status_code == 404 and theirs.json()["error"] == "NOT_FOUND"
    nobody = await keyed.client.get(f"/{path}")
    assert nobody.status_code == 401


async def test_a_stored_video_is_served_as_a_video(keyed: Any, site: Site):
    import av

    body = await stored_capture(keyed, site, "key-one", format="webm", duration=1, fps=4,
                                width=320, height=240)
    assert body["outputs"]["screenshot"]["content_type"] == "video/webm", body
    path = body["result_url"].split("/", 3)[3]
    kept = await keyed.client.get(f"/{path}", headers={"X-Api-Key": "key-one"})
    assert kept.status_code == 200 and kept.headers["content-type"] == "video/webm"
    with av.open(io.BytesIO(kept.content)) as container:
        assert len(list(container.decode(video=0))) == 4


async def test_signed_links(keyed: Any, site: Site):
    body = await stored_capture(keyed, site, "key-one", signed_link="true",
                                signed_link_expires_in="600")
    signed = body["signed_url"]
    assert "/results/" in signed and "signature=" in signed
    # anyone may open it, with no key
    async with httpx.AsyncClient() as public:
        opened = await public.get(signed)
        assert opened.status_code == 200 and opened.content[:4] == b"\x89PNG"
        # altered: another expiry, another signature, another output
        path, query = signed.split("?")
        later = query.replace("expires=", "expires=9")
        for tampered in (f"{path}?{later}", signed[:-4] + "0000",
                         signed.replace("/screenshot?", "/metadata?")):
            refused = await public.get(tampered)
            assert refused.status_code == 401, tampered
            assert "does not match" in refused.json()["message"]
        # expired: signed as the service signs, with an expiry in the past
        expires = str(int(time.time()) - 10)
        link_path = "/" + path.split("/", 3)[3]
        signature = Signer(SECRET).signature([("path", link_path), ("expires", expires)])
        expired = await public.get(f"{path}?expires={expires}&signature={signature}")
        assert expired.status_code == 401 and "expired" in expired.json()["message"]


async def test_signed_link_needs_a_secret_and_storage_needs_a_store(server: Any, site: Site,
                                                                   tmp_path: Path):
    off = await server.client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                          "store": "true"})
    assert off.status_code == 400 and off.json()["field"] == "store"
    assert "STORAGE_TYPE" in off.json()["message"]
    settings = make_settings(storage_type="local", local_storage_path=str(tmp_path / "r"))
    async with run_server(settings) as stored:
        response = await stored.client.get("/screenshot", params={
            "url": site.url("/pages/basic"), "signed_link": "true"})
        assert response.status_code == 400 and response.json()["field"] == "signed_link"
        assert "SIGNING_SECRET" in response.json()["message"]


@pytest.mark.parametrize("path", [
    "/results/../../etc/passwd/screenshot", "/results/%2e%2e%2fetc/screenshot",
    "/results/zz-AAAAAAAAAAAAAAAAAAAAAA/screenshot", "/results/1-short/screenshot",
    "/results/1-AAAAAAAAAAAAAAAAAAAAAA/record.json", "/results/1-AAAAAAAAAAAAAAAAAAAAAA/..",
    "/results/1-AAAAAAAAAAAAAAAAAAAAAA/screenshot", "/results/" + "9" * 300 + "/screenshot",
])
async def test_odd_result_paths_are_not_found(keyed: Any, path: str):
    response = await keyed.client.get(path, headers={"X-Api-Key": "key-one"})
    assert response.status_code == 404, (path, response.text)


async def test_s3_presigned_links_open_with_a_plain_client(s3: S3Server, site: Site):
    env = s3.env(S3_PREFIX=f"presigned-{time.monotonic_ns()}")
    settings = make_settings(storage_type="s3", s3_bucket=env["S3_BUCKET"],
                             s3_endpoint=env["S3_ENDPOINT"], s3_access_key=env["S3_ACCESS_KEY"],
                             s3_secret_key=env["S3_SECRET_KEY"], s3_prefix=env["S3_PREFIX"],
                             s3_presigned_links=True,
                             s3_public_base_url="https://cdn.example.test/shots")
    async with run_server(settings) as server:
        body = await stored_capture(server, site, "", signed_link="true")
        assert body["signed_url"].startswith(s3.endpoint)
        assert "X-Amz-Signature=" in body["signed_url"]
        assert body["storage_url"].startswith("https://cdn.example.test/shots/")
        async with httpx.AsyncClient() as plain:
            opened = await plain.get(body["signed_url"])
            assert opened.status_code == 200 and opened.content[:4] == b"\x89PNG"
            unsigned = await plain.get(body["signed_url"].split("?")[0])
            assert unsigned.status_code == 403  # the bucket itself is not public


@pytest.mark.parametrize("how", ["paused", "killed"])
async def test_a_store_that_goes_away(own_s3: S3Server, site: Site, how: str):
    """S3 stops answering mid-run (paused: calls hang until their timeout; killed: connections
    are refused): captures still answer (with storage_error), /health says degraded, a job
    retries and is stored once S3 is back, and /health recovers by itself."""
    env = own_s3.env()
    settings = make_settings(storage_type="s3", s3_bucket=env["S3_BUCKET"],
                             s3_endpoint=env["S3_ENDPOINT"], s3_access_key=env["S3_ACCESS_KEY"],
                             s3_secret_key=env["S3_SECRET_KEY"], storage_timeout_seconds=1.0)
    async with run_server(settings) as server:
        own_s3.pause() if how == "paused" else own_s3.kill()
        try:
            body = await stored_capture(server, site, "")
            assert body["result_id"] is None and body["storage_error"].startswith(
                "result storage did not answer" if how == "paused" else "result storage failed")
            health = (await server.client.get("/health")).json()
            assert health["status"] == "degraded" and health["storage"]["state"] == "degraded"
            submitted = (await server.client.post("/screenshot", json={
                "url": site.url(f"/pages/basic?job={time.monotonic_ns()}"),
                "async": True})).json()
            await asyncio.sleep(1.5)  # the job's first attempts fail while S3 is away
        finally:
            if how == "paused":
                own_s3.resume()
            else:
                await asyncio.to_thread(own_s3.start)  # the same ports and data
        for _ in range(200):
            job = (await server.client.get(f"/jobs/{submitted['job_id']}")).json()
            if job["status"] not in ("queued", "processing"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "completed" and job["result_id"], job
        stored_path = "/" + job["result_url"].split("/", 3)[3]
        assert (await server.client.get(stored_path)).status_code == 200
        assert (await server.client.get("/health")).json()["storage"]["state"] == "ok"


async def test_a_batch_names_its_stored_objects(tmp_path: Path, site: Site):
    root = tmp_path / "r"
    settings = make_settings(storage_type="local", local_storage_path=str(root))
    async with run_server(settings) as server:
        urls = [site.url(f"/pages/basic?paths={n}") for n in range(3)]
        body = (await server.client.post("/batch", json={
            "urls": urls, "response_type": "paths"})).json()
        for item in body["results"]:
            assert item["ok"] and item["result_id"] and "data" not in item
            stored = root / item["path"]
            image = await server.client.get(item["result_url"])
            assert image.status_code == 200 and stored.read_bytes() == image.content
        linked = (await server.client.post("/batch", json={
            "urls": urls, "response_type": "image_urls", "cache": False})).json()
        for item in linked["results"]:
            assert "/results/" in item["image_url"] and item["image_url"] == item["result_url"]


ALL_OUTPUTS = ["screenshot", "markdown", "html", "text", "metadata"]
CONTENT_TYPE_OF = {"screenshot": "image/png", "markdown": "text/markdown; charset=utf-8",
                   "html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
                   "metadata": "application/json"}


def check_outputs(job: dict[str, Any], fetch: Any) -> None:
    """Every output listed with its type and size, and served as listed."""
    assert job["status"] == "completed", job
    assert list(job["outputs"]) == ALL_OUTPUTS
    for name, output in job["outputs"].items():
        response = fetch(output["result_url"])
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"] == CONTENT_TYPE_OF[name] == output["content_type"]
        if output["size"] is not None:
            assert len(response.content) == output["size"]
        if name in ("html", "markdown", "text"):  # the page's words, in each format
            assert "hello" in response.text, name
            assert response.headers["content-security-policy"].startswith("sandbox")
    assert "<" not in fetch(job["outputs"]["text"]["result_url"]).text
    assert fetch(job["outputs"]["text"]["result_url"]).text.strip() == "hello"
    assert "<p>hello</p>" in fetch(job["outputs"]["html"]["result_url"]).text
    assert "title" in fetch(job["outputs"]["metadata"]["result_url"]).json()


@pytest.mark.parametrize("stored", [False, True], ids=["in memory", "stored"])
async def test_outputs_gives_all_five_from_one_load(stored: bool, tmp_path: Path, site: Site):
    settings = make_settings(**({"storage_type": "local",
                                 "local_storage_path": str(tmp_path / "r")} if stored else {}))
    async with run_server(settings) as server:
        captures = server.service.counts["captures"]
        submitted = (await server.client.post("/screenshot", json={
            "url": site.url(f"/pages/basic?outputs={stored}"), "async": True,
            "outputs": ALL_OUTPUTS})).json()
        for _ in range(300):
            job = (await server.client.get(f"/jobs/{submitted['job_id']}")).json()
            if job["status"] not in ("queued", "processing"):
                break
            await asyncio.sleep(0.1)
        assert server.service.counts["captures"] == captures + 1  # one page load
        assert ("/results/" in job["result_url"]) is stored
        responses = {}
        for output in job["outputs"].values():
            responses[output["result_url"]] = await server.client.get(output["result_url"])
        check_outputs(job, responses.__getitem__)


async def test_outputs_are_checked(client: Any, site: Site):
    for outputs, message in ((["screenshot", "pdf"], "outputs"),
                             (["markdown", "markdown"], "markdown is listed twice"),
                             ([], "outputs")):
        response = await client.post("/screenshot", json={"url": site.url("/pages/basic"),
                                                         "outputs": outputs})
        assert response.status_code == 400 and response.json()["field"] == "outputs", outputs
        assert message in response.json()["message"]
    by_query = await client.get("/screenshot", params={
        "url": site.url("/pages/basic?q-outputs"), "outputs": "markdown,metadata",
        "response_type": "json"})
    assert by_query.status_code == 200
    body = by_query.json()
    assert body["contents"] == {"markdown": "hello"} and "title" in body["metadata"]
