"""`screenshotd mcp`, tested by speaking the protocol to it: JSON-RPC over its stdin and stdout,
as an MCP client does. In-process (Chromium inside the MCP server) and against a remote server."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from tests.support import children
from tests.support.checks import decode, near, rgb_at
from tests.support.pages import RED
from tests.support.servers import serve_process
from tests.support.site import Site


class McpClient:
    """Just enough of an MCP client: newline-delimited JSON-RPC 2.0 over a child's stdio."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = children.popen(
            [sys.executable, "-m", "screenshotd", "mcp"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, **env})
        self.next_id = 0

    def request(self, method: str, params: dict[str, Any] | None = None,
                timeout: float = 120) -> dict[str, Any]:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.notify_raw(message)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "the MCP server closed its stdout"
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]  # type: ignore[no-any-return]
        raise TimeoutError(method)

    def notify_raw(self, message: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def initialize(self) -> dict[str, Any]:
        result = self.request("initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "screenshotd-tests", "version": "1"}})
        self.notify_raw({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def close(self) -> int:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def local_mcp() -> Iterator[McpClient]:
    client = McpClient({"ALLOW_PRIVATE_HOSTS": "127.0.0.1", "SCREENSHOT_API_URL": "",
                        "DATA_DIR": tempfile.mkdtemp(prefix="screenshotd-mcp-"),
                        "MONITOR_MIN_INTERVAL_SECONDS": "1"})
    try:
        yield client
    finally:
        assert client.close() == 0  # stdin closed: a clean exit, Chromium closed with it


def image_of(result: dict[str, Any]) -> Any:
    images = [c for c in result["content"] if c["type"] == "image"]
    assert images, result
    return decode(base64.b64decode(images[0]["data"]))


def text_of(result: dict[str, Any]) -> str:
    return next(c["text"] for c in result["content"] if c["type"] == "text")


def test_lists_the_tools_then_captures_a_page(local_mcp: McpClient, site: Site):
    info = local_mcp.initialize()
    assert info["serverInfo"]["name"] == "screenshotd" and "tools" in info["capabilities"]
    tools = {tool["name"]: tool for tool in local_mcp.request("tools/list")["tools"]}
    assert set(tools) == {"screenshot", "batch_screenshot", "visual_diff", "og_image", "video",
                          "check_job", "monitor_create", "monitor_checks"}
    schema = tools["screenshot"]["inputSchema"]
    assert schema["required"] == ["url"] and "full_page" in schema["properties"]
    result = local_mcp.call("screenshot", url=site.url("/pages/basic?mcp=1"), width=640,
                            height=400)
    assert not result.get("isError"), result
    image = image_of(result)
    assert image.size == (640, 400)
    assert near(rgb_at(image, 60, 60), RED, 20)  # the basic page's red box
    meta = json.loads(text_of(result))
    assert meta["width"] == 640 and meta["metadata"]["http_status"] == 200
    assert "image_url" not in meta  # nothing serves it in-process


def test_a_monitor_made_and_read_through_mcp(local_mcp: McpClient, site: Site):
    made = local_mcp.call("monitor_create", url=site.url("/pages/basic?mcp=monitor"), every=1,
                          width=320, height=200, name="mcp")
    assert not made.get("isError"), made
    monitor = json.loads(text_of(made))
    assert monitor["state"] == "pending" and monitor["every"] == 1
    deadline = time.monotonic() + 60
    while True:
        listed = local_mcp.call("monitor_checks", monitor_id=monitor["id"], limit=5)
        checks = json.loads(text_of(listed))
        if len(checks) >= 2:
            break
        assert time.monotonic() < deadline, checks
        time.sleep(0.3)
    assert checks[-1]["status"] == "baseline" and checks[0]["status"] == "unchanged"
    assert local_mcp.call("monitor_checks", monitor_id="mon_nope")["isError"]
    assert local_mcp.call("monitor_create", url="http://127.0.0.1:9/", every=0)["isError"]


def test_errors_come_back_as_tool_errors_with_the_code(local_mcp: McpClient):
    result = local_mcp.call("screenshot", url="http://10.0.0.1/")
    assert result["isError"] and "BLOCKED" in text_of(result)
    typo = local_mcp.call("screenshot", url="https://example.com", format="gif")
    assert typo["isError"]


def test_batch_jobs_and_diff(local_mcp: McpClient, site: Site):
    urls = [site.url("/pages/basic?mcp=2"), site.url("/pages/basic?mcp=3")]
    waited = local_mcp.call("batch_screenshot", urls=urls, width=320, height=200)
    assert not waited.get("isError"), waited
    summary = json.loads(text_of(waited))
    assert summary["succeeded"] == 2 and summary["failed"] == 0
    assert [image_of({"content": [c]}).size for c in waited["content"]
            if c["type"] == "image"] == [(320, 200), (320, 200)]
    queued = json.loads(text_of(local_mcp.call("batch_screenshot", urls=urls[:1], wait=False)))
    job_id = queued["jobs"][0]["job_id"]
    deadline = time.monotonic() + 60
    while True:
        status = local_mcp.call("check_job", job_id=job_id)
        if json.loads(text_of(status))["status"] == "completed":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert image_of(status).size == (1280, 800)
    assert local_mcp.call("check_job", job_id="nope")["isError"]
    diff = local_mcp.call("visual_diff", before=site.url("/pages/basic?mcp=4"),
                          after=site.url("/pages/basic?mcp=4"), width=300, height=200)
    assert not diff.get("isError"), diff
    stats = json.loads(text_of(diff))
    assert stats["changed_pixels"] == 0 and image_of(diff).size == (300, 200)


def test_a_remote_server_with_its_key(site: Site):
    with serve_process({"API_KEYS": "remote-key", "MAX_REQUESTS_PER_MINUTE": "0"}) as running:
        client = McpClient({"SCREENSHOT_API_URL": running.base,
                            "SCREENSHOT_API_KEY": "remote-key"})
        try:
            client.initialize()
            result = client.call("screenshot", url=site.url("/pages/basic?mcp=5"), width=500,
                                 height=300)
            assert not result.get("isError"), result
            assert image_of(result).size == (500, 300)
            assert json.loads(text_of(result))["image_url"].startswith(running.base)
        finally:
            assert client.close() == 0
        wrong = McpClient({"SCREENSHOT_API_URL": running.base, "SCREENSHOT_API_KEY": "nope"})
        try:
            wrong.initialize()
            refused = wrong.call("screenshot", url=site.url("/pages/basic?mcp=6"))
            assert refused["isError"] and "UNAUTHORIZED" in text_of(refused)
        finally:
            wrong.close()


# --------------------------------------------------------------------------- /mcp


async def remote_session(base: str, key: str | None, work: Any) -> Any:
    """Run ``work(session)`` in an MCP client session over Streamable HTTP to ``base``/mcp."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            streamable_http_client(f"{base}/mcp", http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def content_parts(result: Any) -> tuple[Any, dict[str, Any]]:
    """The image of a tool result, decoded, and its JSON description."""
    image = next(c for c in result.content if c.type == "image")
    text = next(c for c in result.content if c.type == "text")
    return decode(base64.b64decode(image.data)), json.loads(text.text)


async def test_mcp_over_streamable_http_on_the_server_itself(site: Site):
    """An MCP client from the mcp package, speaking Streamable HTTP to `/mcp` of a real
    `screenshotd serve`: keys, domain lists and refusals as on the HTTP API."""
    keys = "remote-key,narrow:example.org"
    with serve_process({"API_KEYS": keys, "MAX_REQUESTS_PER_MINUTE": "0"}) as running:
        async def capture(session: Any) -> Any:
            listed = await session.list_tools()
            names = {tool.name for tool in listed.tools}
            assert {"screenshot", "batch_screenshot", "visual_diff", "og_image", "video",
                    "check_job"} <= names
            return await session.call_tool("screenshot", {
                "url": site.url("/pages/basic?mcp=http"), "width": 500, "height": 300})

        result = await remote_session(running.base, "remote-key", capture)
        assert not result.is_error, result
        image, described = content_parts(result)
        assert image.size == (500, 300) and near(rgb_at(image, 20, 20), RED)
        assert described["image_url"].startswith(running.base)

        async def og_card(session: Any) -> Any:
            return await session.call_tool("og_image", {"title": "Über MCP 🎉", "theme": "dark"})

        card = await remote_session(running.base, "remote-key", og_card)
        assert not card.is_error, card
        image, described = content_parts(card)
        assert image.size == (1200, 630) and described["format"] == "png"

        async def recording(session: Any) -> Any:
            return await session.call_tool("video", {
                "url": site.url("/pages/basic?mcp=video"), "duration": 1, "fps": 4,
                "width": 320, "height": 240, "format": "webm"})

        clip = await remote_session(running.base, "remote-key", recording)
        assert not clip.is_error, clip
        described = json.loads(clip.content[0].text)
        assert described["content_type"] == "video/webm" and described["width"] == 320
        blob = clip.content[1].resource
        assert blob.mime_type == "video/webm" and str(blob.uri) == described["image_url"]
        with av.open(io.BytesIO(base64.b64decode(blob.blob))) as container:
            assert container.streams.video[0].codec_context.name == "vp9"
            assert len(list(container.decode(video=0))) == 4

        async def narrow(session: Any) -> Any:
            return await session.call_tool("screenshot", {"url": site.url("/pages/basic")})

        refused = await remote_session(running.base, "narrow", narrow)
        assert refused.is_error and "DOMAIN_NOT_ALLOWED" in refused.content[0].text

        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "screenshotd-tests", "version": "1"}}}
        for key in (None, "wrong-key"):  # refused at the door, before any MCP
            with pytest.raises(ExceptionGroup) as failed:  # the client cannot even initialize
                await remote_session(running.base, key, narrow)
            assert "Server returned an error response" in repr(failed.value)
            headers = {"Accept": "application/json, text/event-stream",
                       **({"Authorization": f"Bearer {key}"} if key else {})}
            async with httpx.AsyncClient(base_url=running.base) as raw:
                answer = await raw.post("/mcp", json=initialize, headers=headers)
            assert answer.status_code == 401 and answer.json()["error"] == "UNAUTHORIZED"
            assert answer.headers["www-authenticate"].startswith("Bearer")
