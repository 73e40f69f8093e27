"""The command line: shot writes a real capture through the service; --help shows examples."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import RED, Site, decode, near, rgb_at


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenshotd", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_shot_writes_the_image(site: Site, tmp_path):
    out = tmp_path / "box.webp"
    result = run_cli("shot", site.url("/pages/basic"), "-o", str(out), "--width", "640",
                     "-p", "selector=#box", env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert result.returncode == 0, result.stderr
    image = decode(out.read_bytes())
    assert image.format == "WEBP" and image.size == (200, 100)
    assert near(rgb_at(image, 100, 50), RED, 20)
    assert "200x100 webp" in result.stdout


def test_shot_reports_errors_by_code(site: Site, tmp_path):
    out = tmp_path / "x.png"
    blocked = run_cli("shot", site.url("/pages/basic"), "-o", str(out),
                      env={"ALLOW_PRIVATE_HOSTS": ""})
    assert blocked.returncode == 1 and "BLOCKED" in blocked.stderr
    typo = run_cli("shot", site.url("/pages/basic"), "-o", str(out), "-p", "fullpage=true",
                   env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert typo.returncode == 1 and "full_page" in typo.stderr
    assert not out.exists()


def test_help_shows_examples():
    for command in ("serve", "shot"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Examples:" in result.stdout
    assert "BROWSER_MAX_CONCURRENT" in run_cli("serve", "--help").stdout
