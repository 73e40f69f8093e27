"""What the tests assert with: decoded images and their colours, and the spec's error shape."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def rgb_at(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return image.convert("RGB").getpixel((x, y))  # type: ignore[return-value]


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The spec's one error shape, with the given status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return body


async def assert_not_visible(other: httpx.AsyncClient, job_id: str, batch_id: str) -> None:
    """Another caller gets 404 for everything about the job and the batch, lists neither, and
    cannot diff the job's result."""
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/result",
                 f"/jobs/{job_id}/result/screenshot", f"/jobs/{job_id}/events",
                 f"/batch/{batch_id}"):
        assert_error(await other.get(path), 404, "NOT_FOUND")
    assert_error(await other.delete(f"/jobs/{job_id}"), 404, "NOT_FOUND")
    assert_error(await other.post("/diff", json={"job_id_1": job_id, "job_id_2": job_id}),
                 404, "NOT_FOUND")
    listed = (await other.get("/jobs")).json()
    assert job_id not in {j["id"] for j in listed["jobs"]}
