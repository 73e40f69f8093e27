"""Device presets: what ``device=`` stands for.

``desktop``, ``mobile`` and ``tablet`` are screenshotd's own; any Playwright device name
(``iPhone 15``, ``Pixel 7``, …) comes from the running Playwright's descriptor table, which the
pool reads at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DESKTOP_UA: str | None = None  # Chromium's own user agent
MOBILE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
TABLET_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Device:
    """What a device name stands for: a viewport and the context-level emulation."""

    name: str
    width: int
    height: int
    scale: float = 1.0
    is_mobile: bool = False
    has_touch: bool = False
    user_agent: str | None = None


PRESETS: dict[str, Device] = {
    "desktop": Device("desktop", 1280, 800),
    "mobile": Device("mobile", 390, 844, 3.0, True, True, MOBILE_UA),
    "tablet": Device("tablet", 768, 1024, 2.0, True, True, TABLET_UA),
}


def devices_from_playwright(descriptors: Mapping[str, Mapping[str, Any]]) -> dict[str, Device]:
    """Turn ``playwright.devices`` (Python's snake_case descriptors) into :class:`Device`
    entries, keyed by lower-cased name. Chromium emulates WebKit devices' viewport, scale, touch
    and user agent as well."""
    table: dict[str, Device] = {}
    for name, desc in descriptors.items():
        viewport = desc.get("viewport") or {}
        if "width" not in viewport:
            continue
        table[name.lower()] = Device(
            name=name,
            width=int(viewport["width"]),
            height=int(viewport["height"]),
            scale=float(desc.get("device_scale_factor", 1)),
            is_mobile=bool(desc.get("is_mobile", False)),
            has_touch=bool(desc.get("has_touch", False)),
            user_agent=desc.get("user_agent"),
        )
    return table
