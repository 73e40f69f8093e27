"""Server settings, read from the environment once.

:data:`SETTINGS` is the one declaration table: each entry names the variable, its type, its
default and its help text. :class:`Settings` is built from it, ``screenshotd serve --help`` and
the README's table are written from it, and a bad value stops start-up with a
:class:`SettingsError` that names the variable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from screenshotd.params.proxies import ProxyTable, parse_proxies
from screenshotd.settings.values import (
    DIALECTS,
    MIN_SECRET_LENGTH,
    SettingsError,
    _api_keys,
    _bool,
    _choice,
    _chromium_path,
    _csv,
    _dialects,
    _float,
    _http_url,
    _int,
    _port,
    _private_hosts,
    _redis_url,
    _secret,
    _str,
)

__all__ = ["DIALECTS", "MIN_SECRET_LENGTH", "SETTINGS", "Setting", "Settings", "SettingsError"]


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def attr(self) -> str:
        return self.env.lower()


#: Settings whose empty value means "not set" (None), not their parser's reading of "".
_EMPTY_IS_NONE = frozenset({"BROWSER_QUEUE_SIZE", "MAX_CONCURRENT_PER_CALLER"})

SETTINGS: tuple[Setting, ...] = (
    Setting("HOST", "127.0.0.1", _str, "Address to listen on. The Docker image sets 0.0.0.0."),
    Setting("PORT", "3000", _port, "Port to listen on."),
    Setting("API_KEYS", "", _api_keys,
            "Comma-separated API keys; key:host|*.domain limits a key to those hosts. Empty means "
            "auth is off."),
    Setting("API_KEYS_FILE", "", _str,
            "A TOML file of named keys (SHA-256 only) with domains, rate limits, monthly quotas "
            "and revocation; re-read when it changes. Beside API_KEYS."),
    Setting("REDIS_URL", "", _redis_url, "Redis for the cache and rate limits. Empty: in memory."),
    Setting("CACHE_TTL_SECONDS", "3600", _int(1), "Default lifetime of a cached capture."),
    Setting("CACHE_MAX_BYTES", "268435456", _int(0), "Bound of the in-memory cache, in bytes."),
    Setting("CACHE_NEAR_MAX_BYTES", "67108864", _int(0),
            "With REDIS_URL: hot entries also kept in this replica's memory, invalidated by "
            "Redis when any replica changes them. 0 turns it off."),
    Setting("BROWSER_MAX_CONCURRENT", "3", _int(1, 64), "Pool slots: captures rendering at once."),
    Setting(
        "BROWSER_QUEUE_SIZE", "", _int(0, 10_000),
        "A hard cap on requests waiting for a slot; past it, 503. Empty: admission by expected "
        "wait (a request waits when it can start within BROWSER_QUEUE_TIMEOUT_MS at the measured "
        "capture rate), up to 5000 waiting.",
    ),
    Setting(
        "BROWSER_QUEUE_TIMEOUT_MS", "60000", _int(0, 600_000),
        "How long a request may wait for a slot before it gets 503 POOL_EXHAUSTED; long enough "
        "for an <img> load, which browsers wait well over 30 s for.",
    ),
    Setting(
        "MAX_CONCURRENT_PER_CALLER", "", _int(1, 64),
        "Set: the most browser slots one caller (an API key, or an address without keys) ever "
        "holds at once, even on an idle service; a named key's max_concurrent replaces it. "
        "Empty: a caller alone may use every slot, and holds at most max(1, "
        "BROWSER_MAX_CONCURRENT - 1) while others wait (so a first caller with never-ending "
        "pages holds every slot for one deadline, up to the largest timeout + 1.5 s, before "
        "others are served). Waiting requests are served round-robin across callers.",
    ),
    Setting("BROWSER_RECYCLE_AFTER", "200", _int(1), "Restart Chromium after this many captures."),
    Setting(
        "BROWSER_ISOLATION", "caller", _choice("caller", "context", "page"),
        "caller: each caller (an API key, or an address without keys) gets kept pages of its "
        "own, reset between its captures; two callers never share a context or a renderer "
        "process. context: a fresh browser context for every capture. page: for one trusted "
        "tenant, every caller's captures share the kept pages, reset between captures.",
    ),
    Setting("SCREENSHOT_TIMEOUT_MS", "30000", _int(1000, 300_000), "Largest `timeout` allowed."),
    Setting("STABLE_BUDGET_MS", "2000", _int(0, 30_000),
            "The most wait_for_stable waits for the page to stop moving before the shot."),
    Setting("MAX_FULL_PAGE_HEIGHT", "16384", _int(100, 100_000), "Cap on full_page height, px."),
    Setting("MAX_REQUESTS_PER_MINUTE", "60", _int(0),
            "Renders a minute per key, or per IP without keys (hits are free). 0: off."),
    Setting("CORS_ORIGIN", "*", _str, "Access-Control-Allow-Origin. Empty turns CORS off."),
    Setting(
        "ALLOW_PRIVATE_HOSTS", "", _private_hosts,
        "Hosts, host:port pairs or CIDRs exempt from the private-network block; * disables it.",
    ),
    Setting(
        "CHROMIUM_PATH", "", _chromium_path,
        "Chromium binary. Default: Playwright's own browser if installed, else /usr/bin/chromium.",
    ),
    Setting("ADBLOCK_LISTS", "", _csv,
            "Filter lists for block_ads/block_trackers: builtin, or [ads:|trackers:]file-or-URL "
            "(EasyList syntax); empty means the built-in lists."),
    Setting("OG_TEMPLATES_DIR", "", _str,
            "A folder of your own /og-image templates (name.html, Jinja2, autoescaped and "
            "sandboxed), beside the built-in basic, article and minimal."),
    Setting("PROXIES", "", parse_proxies,
            "Upstream proxies captures may go out through (proxy=, proxy_country=...): "
            "name=URL;tag=value, comma-separated; http, https or socks5, with credentials."),
    Setting("JOB_BACKEND", "", _choice("", "memory", "redis"),
            "Where jobs, batches, their queue and events live: memory, or redis (shared by every "
            "replica on REDIS_URL). Empty: redis when REDIS_URL is set, else memory."),
    Setting("JOB_CLAIM_TIMEOUT_SECONDS", "30", _float(0.5, 3600),
            "With JOB_BACKEND=redis: a job whose replica stopped answering is taken over by "
            "another after this."),
    Setting("JOB_TTL_SECONDS", "3600", _int(1), "How long finished jobs are kept."),
    Setting("MAX_PENDING_JOBS", "10", _int(1), "Queued or running jobs per key (or IP)."),
    Setting("MAX_QUEUED_JOBS", "1000", _int(1), "Jobs queued in total, for every caller; past it, 503."),
    Setting(
        "JOB_MAX_BYTES", "268435456", _int(0),
        "Bound on the finished jobs' results kept in memory; past it the oldest go early.",
    ),
    Setting(
        "DIFF_MAX_PIXELS", "50000000", _int(1, 89_000_000),
        "Largest image the diff decodes, in pixels (below Pillow's own bomb limit); past it, 413.",
    ),
    Setting(
        "SHUTDOWN_GRACE_SECONDS", "10", _float(0, 600),
        "At shutdown, how long running captures and jobs get to finish.",
    ),
    Setting("DATA_DIR", "./data", _str,
            "Where the embedded service keeps what outlives it: monitors, their history (a "
            "SQLite file) and their images."),
    Setting("MONITOR_MIN_INTERVAL_SECONDS", "60", _int(1, 86400),
            "The shortest `every` a monitor may have."),
    Setting("MONITOR_HISTORY_DAYS", "30", _int(1, 3650),
            "How long monitor checks are kept (a monitor's baseline, latest check and latest "
            "change are kept regardless)."),
    Setting("MAX_MONITORS_PER_CALLER", "100", _int(0, 1_000_000),
            "The most monitors one caller may have; a named key's max_monitors replaces it."),
    Setting(
        "DIALECTS", "000,001,003,004", _dialects,
        "The seed APIs served under their own paths (docs/compat.md): 000 GoScreenAPI v1, 001 "
        "a capture flow, 003 allscreenshots, 004 sessionshot; all, or none to serve only "
        "screenshotd's own API.",
    ),
    Setting("SIGNING_SECRET", "", _secret,
            "Enables signed capture URLs (&signature=, see `screenshotd sign`); 16+ characters."),
    Setting("STORAGE_TYPE", "none", _choice("none", "local", "s3"),
            "Where results are kept beyond the cache: none, local (LOCAL_STORAGE_PATH) or s3."),
    Setting("SAVE_TO_DISK", "false", _bool, "Shorthand for STORAGE_TYPE=local."),
    Setting("LOCAL_STORAGE_PATH", "./storage", _str, "The directory of STORAGE_TYPE=local."),
    Setting("S3_BUCKET", "", _str, "The bucket of STORAGE_TYPE=s3 (it must exist)."),
    Setting("S3_ENDPOINT", "", _http_url,
            "An S3-compatible endpoint (MinIO, R2, SeaweedFS); empty: AWS for S3_REGION."),
    Setting("S3_REGION", "us-east-1", _str, "The bucket's region."),
    Setting("S3_ACCESS_KEY", "", _str, "The S3 access key id; empty: the usual AWS sources."),
    Setting("S3_SECRET_KEY", "", _str, "The S3 secret access key."),
    Setting("S3_PREFIX", "", _str, "A key prefix inside the bucket."),
    Setting("S3_PUBLIC_BASE_URL", "", _http_url,
            "A CDN or public base in front of the bucket; results then carry storage_url."),
    Setting("S3_PRESIGNED_LINKS", "false", _bool,
            "signed_url is an S3 presigned URL instead of one signed with SIGNING_SECRET."),
    Setting("RESULT_RETENTION_SECONDS", "604800", _int(60),
            "Stored results are deleted after this (7 days)."),
    Setting("STORAGE_REQUIRED", "true", _bool,
            "A store that does not work stops the start; false: start degraded, and recover."),
    Setting("STORAGE_TIMEOUT_SECONDS", "10", _float(0.5, 120),
            "The most any one call to the result store may take."),
    Setting(
        "LOG_LEVEL", "info", _choice("critical", "error", "warning", "info", "debug"),
        "Log level.",
    ),
    Setting("LOG_FORMAT", "text", _choice("text", "json"), "text, or json (one object a line)."),
    Setting("METRICS_REQUIRE_KEY", "false", _bool, "Put /metrics behind the API keys."),
)


@dataclass(frozen=True)
class Settings:
    """Typed settings. Build with :meth:`from_env`; tests may construct it directly."""

    host: str = "127.0.0.1"
    port: int = 3000
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_keys_file: str = ""
    redis_url: str = ""
    cache_ttl_seconds: int = 3600
    cache_max_bytes: int = 268435456
    cache_near_max_bytes: int = 67108864
    browser_max_concurrent: int = 3
    browser_queue_size: int | None = None
    max_concurrent_per_caller: int | None = None
    browser_queue_timeout_ms: int = 60000
    browser_recycle_after: int = 200
    browser_isolation: str = "caller"
    screenshot_timeout_ms: int = 30000
    stable_budget_ms: int = 2000
    max_full_page_height: int = 16384
    max_requests_per_minute: int = 60
    cors_origin: str = "*"
    allow_private_hosts: tuple[str, ...] = ()
    chromium_path: str = ""
    adblock_lists: tuple[str, ...] = ()
    og_templates_dir: str = ""
    proxies: ProxyTable = field(default_factory=ProxyTable)
    job_backend: str = ""
    job_claim_timeout_seconds: float = 30.0
    job_ttl_seconds: int = 3600
    max_pending_jobs: int = 10
    max_queued_jobs: int = 1000
    job_max_bytes: int = 268435456
    diff_max_pixels: int = 50_000_000
    shutdown_grace_seconds: float = 10.0
    dialects: tuple[str, ...] = DIALECTS
    data_dir: str = "./data"
    monitor_min_interval_seconds: int = 60
    monitor_history_days: int = 30
    max_monitors_per_caller: int = 100
    signing_secret: str = field(default="", repr=False)
    storage_type: str = "none"
    save_to_disk: bool = False
    local_storage_path: str = "./storage"
    s3_bucket: str = ""
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    s3_prefix: str = ""
    s3_public_base_url: str = ""
    s3_presigned_links: bool = False
    result_retention_seconds: int = 604800
    storage_required: bool = True
    storage_timeout_seconds: float = 10.0
    log_level: str = "info"
    log_format: str = "text"
    metrics_require_key: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``).

        ``overrides`` (attribute names, already typed) win over the environment; the CLI's flags
        use them. Raises :class:`SettingsError` naming the first variable with a bad value.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None or (raw.strip() == "" and setting.default != ""):
                raw = setting.default
            if setting.env in _EMPTY_IS_NONE and raw.strip() == "":
                values[setting.attr] = None
                continue
            try:
                values[setting.attr] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{setting.env}: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Settings that only make sense together; raises :class:`SettingsError`."""
        if self.storage_kind == "s3" and not self.s3_bucket:
            raise SettingsError("S3_BUCKET: needed with STORAGE_TYPE=s3")
        if self.storage_kind == "s3" and bool(self.s3_access_key) != bool(self.s3_secret_key):
            raise SettingsError("S3_SECRET_KEY: S3_ACCESS_KEY and S3_SECRET_KEY go together")
        if self.s3_presigned_links and self.storage_kind != "s3":
            raise SettingsError("S3_PRESIGNED_LINKS: needs STORAGE_TYPE=s3")
        if self.job_backend == "redis" and not self.redis_url:
            raise SettingsError("JOB_BACKEND: redis needs REDIS_URL")

    @property
    def jobs_kind(self) -> str:
        """``JOB_BACKEND``, empty read as redis when ``REDIS_URL`` is set, else memory."""
        return self.job_backend or ("redis" if self.redis_url else "memory")

    @property
    def storage_kind(self) -> str:
        """``STORAGE_TYPE``, with ``SAVE_TO_DISK=true`` read as ``local``."""
        if self.storage_type == "none" and self.save_to_disk:
            return "local"
        return self.storage_type

    @property
    def queue_size(self) -> int | None:
        """The hard cap on requests waiting for a slot (``BROWSER_QUEUE_SIZE``); None: admission
        by expected wait."""
        return self.browser_queue_size

    @property
    def per_caller_slots(self) -> int:
        """``MAX_CONCURRENT_PER_CALLER``, or its default: all slots but one, at least one."""
        if self.max_concurrent_per_caller is not None:
            return self.max_concurrent_per_caller
        return max(1, self.browser_max_concurrent - 1)

    @property
    def private_hosts_open(self) -> bool:
        """``ALLOW_PRIVATE_HOSTS=*``: the private-network guard is off."""
        return "*" in self.allow_private_hosts

    def resolve_chromium(self) -> str | None:
        """The Chromium to launch: ``CHROMIUM_PATH``, else Playwright's (None), else Debian's
        headless shell, else Debian's full Chromium.

        Returning None lets Playwright use its own downloaded browser. The headless shell
        (Chromium's old headless mode, Debian's ``chromium-headless-shell``) is preferred: the
        full browser's new headless mode runs the whole browser, and costs about 3.5 times the
        CPU per capture here (``benchmarks/bench_saturation.py``).
        """
        if self.chromium_path:
            return self.chromium_path
        if _playwright_browser_installed():
            return None
        for name in CHROMIUM_NAMES:
            found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file()
                                           else None)
            if found:
                return found
        raise SettingsError(
            "CHROMIUM_PATH: no Chromium found; install Debian's chromium or set CHROMIUM_PATH"
        )


#: Chromium builds looked for on the PATH, best first.
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")


def _playwright_browser_installed() -> bool:
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache/ms-playwright")
    return any(root.glob("chromium-*/chrome-linux*/chrome")) or any(
        root.glob("chromium_headless_shell-*/chrome-*/*headless_shell")
    )
