"""The README documents every parameter, alias and setting the code knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from screenshotd.app import create_app
from screenshotd.diff_routes import DIFF_NAMES, SOURCE_NAMES
from screenshotd.options import ALIASES, KNOWN_PARAMS, NON_OPTION_PARAMS
from screenshotd.settings import SETTINGS, Settings, SettingsError

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted((KNOWN_PARAMS - NON_OPTION_PARAMS) | set(ALIASES) - {"async_"}))
def test_every_parameter_is_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("name", [s.env for s in SETTINGS])
def test_every_setting_is_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("values", [{"signing_secret": "s"},
                                    {"api_keys": ("plain", "k2:example.com|*.example.org")}])
def test_unbuilt_security_settings_stop_the_start(values):
    """Signed URLs and per-key domain lists are not built: a server that its operator
    believes restricted must not start open."""
    with pytest.raises(SettingsError):
        create_app(Settings(**values))


@pytest.mark.parametrize("name", sorted(DIFF_NAMES | SOURCE_NAMES))
def test_every_diff_parameter_is_documented(name):
    assert f"`{name}`" in README
