"""The command line: shot writes a real capture through the service; --help shows examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tests.support.checks import decode, near, rgb_at
from tests.support.pages import RED
from tests.support.site import Site


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


def test_shot_writes_content_and_metadata_beside_the_image(site: Site, tmp_path):
    out = tmp_path / "page.png"
    result = run_cli("shot", site.url("/pages/basic"), "-o", str(out), "-p",
                     "extract_content=true", "-p", "metadata=true", "-p", "content_format=text",
                     env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert result.returncode == 0, result.stderr
    assert decode(out.read_bytes()).size == (1280, 800)
    assert "hello" in (tmp_path / "page.txt").read_text()
    metadata = json.loads((tmp_path / "page.json").read_text())
    assert metadata["http_status"] == 200 and metadata["favicon"].endswith("/favicon.ico")
    assert "page.txt: content" in result.stdout and "page.json: metadata" in result.stdout


def test_shot_to_an_mp4_records_a_video(site: Site, tmp_path):
    import av

    out = tmp_path / "page.mp4"
    result = run_cli("shot", site.url("/pages/basic"), "-o", str(out), "--width", "320",
                     "--height", "240", "-p", "duration=1", "-p", "fps=5",
                     env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert result.returncode == 0, result.stderr
    assert "320x240 mp4" in result.stdout
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert len(list(container.decode(video=0))) == 5


def test_shot_reports_errors_by_code(site: Site, tmp_path):
    out = tmp_path / "x.png"
    blocked = run_cli("shot", site.url("/pages/basic"), "-o", str(out),
                      env={"ALLOW_PRIVATE_HOSTS": ""})
    assert blocked.returncode == 1 and "BLOCKED" in blocked.stderr
    typo = run_cli("shot", site.url("/pages/basic"), "-o", str(out), "-p", "fullpage=true",
                   env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert typo.returncode == 1 and "full_page" in typo.stderr
    assert not out.exists()


def test_help_shows_examples_for_every_command():
    import click

    from screenshotd.cli.main import main

    commands = main.list_commands(click.Context(main))
    assert set(commands) == {"serve", "shot", "batch", "diff", "sign", "mcp", "keys"}
    for command in commands:
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Examples:" in result.stdout, command
        assert f"screenshotd {command}" in result.stdout, command


def test_batch_captures_every_url_reports_failures_and_exits_1(site: Site, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join([
        "# the test site",
        site.url("/pages/basic?batch=1"),
        "",
        site.url("/pages/basic?batch=2"),
        "http://10.0.0.1/private",
        "not a url",
        site.url("/pages/basic?batch=1"),  # again: the same capture, written twice
    ]) + "\n")
    out = tmp_path / "shots"
    result = run_cli("batch", str(urls), "-d", str(out), "--width", "400", "--height", "300",
                     "--format", "webp", "-p", "metadata=true",
                     env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert result.returncode == 1, result.stderr
    assert "3 captured, 2 failed" in result.stdout
    # progress, one line per URL when stderr is not a terminal, and the failures by code
    assert result.stderr.count("[") >= 5 and "[5/5]" in result.stderr
    assert "BLOCKED http://10.0.0.1/private" in result.stderr
    assert "failed: not a url: INVALID_URL" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert [r.get("error") for r in results] == [None, None, "BLOCKED", "INVALID_URL", None]
    files = sorted(p.name for p in out.iterdir() if p.suffix == ".webp")
    assert files == ["001-127.0.0.1-pages-basic.webp", "002-127.0.0.1-pages-basic.webp",
                     "005-127.0.0.1-pages-basic.webp"]
    for name in files:
        assert decode((out / name).read_bytes()).size == (400, 300)
    assert results[0]["metadata"]["http_status"] == 200 and results[0]["file"] == files[0]


def test_batch_all_good_exits_0_and_an_empty_file_is_an_error(site: Site, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(site.url("/pages/basic?batch=3") + "\n")
    ok = run_cli("batch", str(urls), "-d", str(tmp_path / "out"), "--no-progress",
                 env={"ALLOW_PRIVATE_HOSTS": "127.0.0.1"})
    assert ok.returncode == 0 and "1 captured, 0 failed" in ok.stdout and "[" not in ok.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    nothing = run_cli("batch", str(empty), "-d", str(tmp_path / "none"))
    assert nothing.returncode == 1 and "no URLs" in nothing.stderr
    assert "BROWSER_MAX_CONCURRENT" in run_cli("serve", "--help").stdout


def test_serve_stops_on_sigterm_failing_running_jobs_and_ending_their_event_streams(site: Site):
    """``screenshotd serve`` hears SIGTERM: the job's grace period starts at once, the job
    fails with SHUTDOWN, its event stream says so and ends, and the process exits."""
    import signal
    import time

    import httpx

    from tests.support.servers import serve_process

    env = {"SHUTDOWN_GRACE_SECONDS": "1", "BROWSER_MAX_CONCURRENT": "1", "LOG_LEVEL": "warning"}
    with serve_process(env) as running:
        base, proc = running.base, running.proc
        job = httpx.get(f"{base}/screenshot", params={
            "async": "true", "url": site.url("/slow?ms=30000&sigterm=1")}).json()
        events = []
        with httpx.stream("GET", f"{base}/jobs/{job['job_id']}/events", timeout=30) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                    if events == ["connected"]:
                        stopping = time.monotonic()
                        proc.send_signal(signal.SIGTERM)
                elif line.startswith("data: ") and events[-1] == "failed":
                    assert json.loads(line[6:])["error"]["code"] == "SHUTDOWN"
        assert events[0] == "connected" and events[-1] == "failed"
        assert time.monotonic() - stopping < 8  # the stream did not wait for a drain timeout
        # uvicorn re-raises the signal it caught once its shutdown is done
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in running.stop()


def test_diff_prints_the_count_and_fails_on_change(tmp_path):
    from tests.support.pages import PIXELMATCH_FIXTURES as fx

    out = tmp_path / "diff.png"
    result = run_cli("diff", str(fx / "1a.png"), str(fx / "1b.png"), "-o", str(out),
                     "--threshold", "0.05")
    assert result.returncode == 1, result.stderr  # any change fails by default
    assert "143 of 131072 pixels changed (0.1091%), 512x256" in result.stdout
    image = decode(out.read_bytes())
    assert image.format == "PNG" and image.size == (512, 256)
    red = (np.asarray(image.convert("RGB")) == (255, 0, 0)).all(axis=-1)
    assert int(red.sum()) == 143

    within = run_cli("diff", str(fx / "1a.png"), str(fx / "1b.png"), "--fail-over", "0.5")
    assert within.returncode == 0, within.stderr
    assert "106 of 131072" in within.stdout  # the default threshold, 0.1

    same = run_cli("diff", str(fx / "6a.png"), str(fx / "6a.png"), "--json")
    assert same.returncode == 0
    assert json.loads(same.stdout)["changed_pixels"] == 0


def test_diff_of_different_sizes_and_bad_files(tmp_path):
    from tests.support.pages import PIXELMATCH_FIXTURES as fx

    sizes = run_cli("diff", str(fx / "1a.png"), str(fx / "6a.png"), "--fail-over", "100")
    assert sizes.returncode == 0
    assert "sizes differ: 512x256 and 256x256" in sizes.stdout
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    bad = run_cli("diff", str(fx / "1a.png"), str(text))
    assert bad.returncode == 2  # trouble, not "the images differ"
    assert "not a PNG, JPEG or WebP image" in bad.stderr
    colour = run_cli("diff", str(fx / "1a.png"), str(fx / "1b.png"), "--diff-color", "red")
    assert colour.returncode == 2 and "--diff-color" in colour.stderr
