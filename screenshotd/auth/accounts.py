"""Accounts: named API keys in a TOML file (``API_KEYS_FILE``), re-read when it changes.

::

    [[keys]]
    name = "acme"
    key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    domains = ["acme.com", "*.acme.com"]     # optional: the hosts it may capture
    rate_limit_per_minute = 120              # optional: instead of MAX_REQUESTS_PER_MINUTE
    monthly_quota = 10000                    # optional: renders a calendar month (UTC)
    max_concurrent = 2                       # optional: the most browser slots it holds at once
    max_monitors = 20                        # optional: instead of MAX_MONITORS_PER_CALLER
    revoked = false                          # optional

- **Keys are stored only as SHA-256.** ``screenshotd keys new`` prints a key once, with the
  entry to paste. A request's key is hashed once and looked up in a dict: the cost does not
  grow with the number of keys, and no comparison runs on the key itself.
- **Re-read on change.** The file is looked at every second (its size, time and inode); a
  changed file is read and checked whole. A good one replaces the keys at once; a bad one is
  logged, with the line at fault, and the last good keys stay. At start a bad file stops the
  start (:class:`KeysFileError`).
- A revoked key is refused with its own message, so its holder knows why.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from screenshotd.auth.callers import parse_domains

log = logging.getLogger(__name__)

#: How often the file is looked at.
RELOAD_EVERY_S = 1.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_HEX = re.compile(r"[0-9a-f]{64}")
FIELDS = frozenset({"name", "key_sha256", "domains", "rate_limit_per_minute", "monthly_quota",
                    "max_concurrent", "max_monitors", "revoked"})


class KeysFileError(ValueError):
    """A keys file that cannot be used; the message names the key and the line at fault."""


@dataclass(frozen=True, slots=True)
class Account:
    """One named key of the file."""

    name: str
    digest: bytes
    domains: tuple[str, ...] | None = None
    rate_limit_per_minute: int | None = None
    monthly_quota: int | None = None
    revoked: bool = False
    #: The most browser slots the key holds at once, even on an idle service (None: no cap
    #: of its own).
    max_concurrent: int | None = None
    #: The most monitors the key may have (None: ``MAX_MONITORS_PER_CALLER``).
    max_monitors: int | None = None

    @property
    def key_id(self) -> str:
        """The key's public name, as its caller's id has it (``key:<key_id>``)."""
        return self.digest.hex()[:16]


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_accounts(text: str) -> dict[bytes, Account]:
    """The accounts of a keys file's text, by their key's SHA-256; :class:`KeysFileError`
    names what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeysFileError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"keys"}
    if unknown:
        raise KeysFileError(f"unknown table {sorted(unknown)[0]!r}; the file has [[keys]] only")
    entries = data.get("keys", [])
    if not isinstance(entries, list):
        raise KeysFileError("keys must be an array of tables: [[keys]]")
    lines = [n for n, line in enumerate(text.splitlines(), 1)
             if line.strip().replace(" ", "") == "[[keys]]"]
    accounts: dict[bytes, Account] = {}
    names: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"keys[{index}]" + (f" (the [[keys]] at line {lines[index]})"
                                    if index < len(lines) else "")
        try:
            account = _account(entry)
        except (KeysFileError, ValueError) as exc:
            raise KeysFileError(f"{where}: {exc}") from None
        if account.name in names:
            raise KeysFileError(f"{where}: the name {account.name!r} is used twice")
        if account.digest in accounts:
            raise KeysFileError(f"{where}: the same key_sha256 as "
                                f"{accounts[account.digest].name!r}")
        names.add(account.name)
        accounts[account.digest] = account
    return accounts


def _account(entry: Any) -> Account:
    if not isinstance(entry, dict):
        raise KeysFileError("must be a table")
    unknown = set(entry) - FIELDS
    if unknown:
        raise KeysFileError(f"unknown field {sorted(unknown)[0]!r}; the fields are "
                            f"{', '.join(sorted(FIELDS))}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KeysFileError("name must be 1-64 letters, digits, _ . @ or -")
    digest = entry.get("key_sha256")
    if not isinstance(digest, str) or not _HEX.fullmatch(digest.lower()):
        raise KeysFileError("key_sha256 must be 64 hex digits (`screenshotd keys new` "
                            "prints it)")
    domains = entry.get("domains")
    if isinstance(domains, list) and all(isinstance(d, str) for d in domains):
        domains = parse_domains("|".join(domains))
    elif isinstance(domains, str):
        domains = parse_domains(domains)
    elif domains is not None:
        raise KeysFileError("domains must be a list of host names")
    max_concurrent = _count(entry, "max_concurrent")
    if max_concurrent == 0:
        raise KeysFileError("max_concurrent must be 1 or more (revoked = true stops a key)")
    return Account(name, bytes.fromhex(digest), domains,
                   _count(entry, "rate_limit_per_minute"), _count(entry, "monthly_quota"),
                   _flag(entry, "revoked"), max_concurrent, _count(entry, "max_monitors"))


def _count(entry: dict[str, Any], field: str) -> int | None:
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KeysFileError(f"{field} must be a whole number, 0 or more")
    return value


def _flag(entry: dict[str, Any], field: str) -> bool:
    value = entry.get(field, False)
    if not isinstance(value, bool):
        raise KeysFileError(f"{field} must be true or false")
    return value


class KeysFile:
    """The accounts of ``path``, kept current by :meth:`watch` (a task of the app's)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.accounts: dict[bytes, Account] = {}
        #: The same accounts by key id, for what knows a caller only by its id (a queued job).
        self.by_id: dict[str, Account] = {}
        self.reloads = 0
        self.last_error: str | None = None
        self._stamp: tuple[int, int, int] | None = None

    def _stat(self) -> tuple[int, int, int]:
        info = os.stat(self.path)
        return info.st_mtime_ns, info.st_size, info.st_ino

    def load(self) -> None:
        """Read the file now; :class:`KeysFileError` when it cannot be used (the keys stay)."""
        try:
            stamp = self._stat()
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeysFileError(f"cannot read {self.path}: {exc}") from None
        accounts = parse_accounts(text)
        self.accounts, self.by_id = accounts, {a.key_id: a for a in accounts.values()}
        self._stamp = stamp

    async def watch(self) -> None:
        """Every :data:`RELOAD_EVERY_S`: when the file changed, read it again."""
        while True:
            await asyncio.sleep(RELOAD_EVERY_S)
            with contextlib.suppress(OSError):
                if self._stat() == self._stamp:
                    continue
            try:
                await asyncio.to_thread(self.load)
            except KeysFileError as exc:
                if str(exc) != self.last_error:
                    log.error("API_KEYS_FILE %s: %s; the last good keys stay", self.path, exc)
                self.last_error = str(exc)
                with contextlib.suppress(OSError):
                    self._stamp = self._stat()  # logged once, until the file changes again
                continue
            self.reloads += 1
            self.last_error = None
            log.info("API_KEYS_FILE %s: %d keys (read again)", self.path, len(self.accounts))

    def identify(self, presented: str) -> Account | None:
        return self.accounts.get(key_digest(presented))

    def health(self) -> dict[str, object]:
        return {"path": str(self.path), "keys": len(self.accounts), "reloads": self.reloads,
                "error": self.last_error}


def new_key() -> str:
    """A new API key: 32 random bytes, URL-safe."""
    return "sk_" + secrets.token_urlsafe(32)


def toml_entry(name: str, key: str, domains: tuple[str, ...] | None = None,
               monthly_quota: int | None = None,
               rate_limit_per_minute: int | None = None,
               max_concurrent: int | None = None, max_monitors: int | None = None) -> str:
    """The ``[[keys]]`` entry for ``key`` (only its SHA-256), ready to paste."""
    lines = ["[[keys]]", f'name = "{name}"', f'key_sha256 = "{key_digest(key).hex()}"']
    if domains:
        lines.append("domains = [" + ", ".join(f'"{d}"' for d in domains) + "]")
    if rate_limit_per_minute is not None:
        lines.append(f"rate_limit_per_minute = {rate_limit_per_minute}")
    if monthly_quota is not None:
        lines.append(f"monthly_quota = {monthly_quota}")
    if max_concurrent is not None:
        lines.append(f"max_concurrent = {max_concurrent}")
    if max_monitors is not None:
        lines.append(f"max_monitors = {max_monitors}")
    return "\n".join(lines) + "\n"
