"""The documentation (docs/, with the README as its front door) names every parameter, alias,
setting, error code, command and route the code knows, and builds with mkdocs without a broken
link or anchor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from screenshotd import errors
from screenshotd.cli.main import main
from screenshotd.http.app import create_app
from screenshotd.params.capture import KNOWN_PARAMS
from screenshotd.params.diff import DIFF_NAMES, SOURCE_NAMES
from screenshotd.params.names import ALIASES, NON_OPTION_PARAMS
from screenshotd.settings import SETTINGS, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
#: Every page of the documentation, and the README.
README = "\n".join(path.read_text() for path in [ROOT / "README.md", *PAGES])


@pytest.mark.parametrize("name", sorted((KNOWN_PARAMS - NON_OPTION_PARAMS) | set(ALIASES) - {"async_"}))
def test_every_parameter_is_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("name", [s.env for s in SETTINGS])
def test_every_setting_is_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("values", [{"signing_secret": "short"},
                                    {"api_keys": ("plain", "k2:exa mple.com")}])
def test_bad_security_settings_stop_the_start_however_they_are_given(values):
    """A weak signing secret or a domain list that cannot be read: a server that its operator
    believes restricted must not start open, even when Settings is built in code."""
    with pytest.raises(SettingsError):
        create_app(Settings(**values))


@pytest.mark.parametrize("code", sorted({cls.code for cls in errors.ERROR_CLASSES}))
def test_every_error_code_is_documented(code):
    assert f"`{code}`" in README


@pytest.mark.parametrize("command", main.list_commands(click.Context(main)))
def test_every_command_is_documented(command):
    assert f"screenshotd {command}" in README


@pytest.mark.parametrize("path", sorted({route.path for route in create_app(Settings()).routes}))
def test_every_route_is_documented(path):
    shown = path.replace("{job_id}", "{id}").replace("{batch_id}", "{id}")
    shown = shown.replace("/images/{name}", "/images/{key}.{ext}")
    shown = "/static/" if shown == "/static" else shown
    assert f" {shown}" in README or f"`{shown}" in README, shown


@pytest.mark.parametrize("name", sorted(DIFF_NAMES | SOURCE_NAMES))
def test_every_diff_parameter_is_documented(name):
    assert f"`{name}`" in README


def test_the_docs_build_strictly_and_the_readme_stays_a_front_door(tmp_path: Path):
    """mkdocs --strict fails on a page missing from the nav, a broken link or a missing anchor."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "security" / "index.html").is_file()
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in PAGES:  # the README links every page of the docs
        assert f"(docs/{page.name}" in readme, page.name
