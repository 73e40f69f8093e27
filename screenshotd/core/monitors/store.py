"""Where monitors, their checks and their widget tokens live: a SQLite file under ``DATA_DIR``
(the standard library's ``sqlite3``, in a worker thread), and their images as files beside it.

The schedule is a column, ``next_check_at``, with an index: the due monitors are one indexed
query. A due monitor is *claimed* with a lease (``lease_until``) before its check runs, and its
next time is set when the check ends; a process that dies mid-check leaves a lease that runs
out, and the check runs again after a restart: none is lost, none runs twice at once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from screenshotd import errors
from screenshotd.core.monitors.model import Check, Monitor, Widget

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, record TEXT NOT NULL,
    next_check_at REAL NOT NULL, paused INTEGER NOT NULL, lease_until REAL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS monitors_owner ON monitors (owner, created_at);
CREATE INDEX IF NOT EXISTS monitors_due ON monitors (paused, next_check_at);
CREATE TABLE IF NOT EXISTS checks (
    id TEXT PRIMARY KEY, monitor_id TEXT NOT NULL, at REAL NOT NULL, status TEXT NOT NULL,
    load_ms INTEGER, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS checks_monitor ON checks (monitor_id, at);
CREATE TABLE IF NOT EXISTS widgets (
    token TEXT PRIMARY KEY, monitor_id TEXT NOT NULL, owner TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS widgets_monitor ON widgets (monitor_id);
"""

_MONITOR_FIELDS = {f.name for f in fields(Monitor)}
_CHECK_FIELDS = {f.name for f in fields(Check)} - {"links"}


def _monitor(record: str) -> Monitor:
    raw = json.loads(record)
    return Monitor(**{k: v for k, v in raw.items() if k in _MONITOR_FIELDS})


def _check(record: str) -> Check:
    raw = json.loads(record)
    return Check(**{k: v for k, v in raw.items() if k in _CHECK_FIELDS})


class MonitorStore:
    """The SQLite file and the image folder of the embedded service."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.images = self.folder / "monitor-images"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.images.mkdir(exist_ok=True)
        db = sqlite3.connect(self.folder / "monitors.sqlite3", check_same_thread=False,
                             isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                if self._db is None:
                    raise errors.StorageUnavailable("the monitor store is closed")
                try:
                    return work(self._db)
                except sqlite3.Error as exc:
                    raise errors.StorageUnavailable(f"the monitor store failed: {exc}") from None

        return await asyncio.to_thread(locked)

    # ---------------------------------------------------------------- monitors

    async def save(self, monitor: Monitor) -> None:
        record = json.dumps(asdict(monitor))
        await self._run(lambda db: db.execute(
            "INSERT INTO monitors (id, owner, record, next_check_at, paused, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record,"
            " next_check_at = excluded.next_check_at, paused = excluded.paused",
            (monitor.id, monitor.owner, record, monitor.next_check_at, int(monitor.paused),
             monitor.created_at)))

    async def get(self, owner: str | None, monitor_id: str) -> Monitor:
        """``owner``'s monitor (None: anyone's); another's is NOT_FOUND, as a missing one."""
        row = await self._run(lambda db: db.execute(
            "SELECT owner, record FROM monitors WHERE id = ?", (monitor_id,)).fetchone())
        if row is None or (owner is not None and row[0] != owner):
            raise errors.NotFound(f"no monitor {monitor_id[:64]}")
        return _monitor(row[1])

    async def of_owner(self, owner: str) -> list[Monitor]:
        rows = await self._run(lambda db: db.execute(
            "SELECT record FROM monitors WHERE owner = ? ORDER BY created_at DESC",
            (owner,)).fetchall())
        return [_monitor(row[0]) for row in rows]

    async def count(self, owner: str) -> int:
        row = await self._run(lambda db: db.execute(
            "SELECT COUNT(*) FROM monitors WHERE owner = ?", (owner,)).fetchone())
        return int(row[0])

    async def delete(self, monitor_id: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN")
            db.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))
            db.execute("DELETE FROM checks WHERE monitor_id = ?", (monitor_id,))
            db.execute("DELETE FROM widgets WHERE monitor_id = ?", (monitor_id,))
            db.execute("COMMIT")

        await self._run(work)
        await asyncio.to_thread(self._remove_images, monitor_id, None)

    # ---------------------------------------------------------------- the schedule

    async def claim_due(self, now: float, lease_s: float, limit: int) -> list[Monitor]:
        """Up to ``limit`` monitors due at ``now``, each leased for ``lease_s``: no other
        claim takes them until the lease ends or :meth:`finish` sets their next time."""
        def work(db: sqlite3.Connection) -> list[Monitor]:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT id, record FROM monitors WHERE paused = 0 AND next_check_at <= ? "
                "AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_check_at LIMIT ?",
                (now, now, limit)).fetchall()
            db.executemany("UPDATE monitors SET lease_until = ? WHERE id = ?",
                           [(now + lease_s, row[0]) for row in rows])
            db.execute("COMMIT")
            return [_monitor(row[1]) for row in rows]

        return await self._run(work)

    async def claim(self, monitor_id: str, now: float, lease_s: float) -> bool:
        """Lease one monitor now, due or not (a check asked for); False while one runs."""
        cursor = await self._run(lambda db: db.execute(
            "UPDATE monitors SET lease_until = ? WHERE id = ? AND "
            "(lease_until IS NULL OR lease_until < ?)", (now + lease_s, monitor_id, now)))
        return bool(cursor.rowcount)

    async def renew(self, monitor_id: str, lease_s: float, now: float) -> None:
        """Keep a running check's lease from running out."""
        await self._run(lambda db: db.execute(
            "UPDATE monitors SET lease_until = ? WHERE id = ?", (now + lease_s, monitor_id)))

    async def next_due(self) -> float | None:
        """When the earliest unpaused, unleased monitor is due (None: none is)."""
        row = await self._run(lambda db: db.execute(
            "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_check_at "
            "ELSE MAX(next_check_at, lease_until) END) FROM monitors WHERE paused = 0"
        ).fetchone())
        return None if row[0] is None else float(row[0])

    async def complete(self, monitor: Monitor, fields: tuple[str, ...]) -> None:
        """A check of ``monitor`` ended: its ``fields`` (and next time) written over the
        monitor as it is now (a change made meanwhile stays), and the lease off."""
        def work(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT record FROM monitors WHERE id = ?",
                             (monitor.id,)).fetchone()
            if row is None:
                return  # deleted meanwhile
            current = _monitor(row[0])
            for name in fields:
                setattr(current, name, getattr(monitor, name))
            db.execute("UPDATE monitors SET record = ?, next_check_at = ?, lease_until = NULL "
                       "WHERE id = ?", (json.dumps(asdict(current)), current.next_check_at,
                                        monitor.id))

        await self._run(work)

    async def forget_image(self, monitor_id: str, check_id: str) -> None:
        """An unchanged check that is no longer the latest keeps its figures, not its image."""
        def work(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT record FROM checks WHERE id = ?", (check_id,)).fetchone()
            if row is not None:
                check = _check(row[0])
                check.has_image = False
                db.execute("UPDATE checks SET record = ? WHERE id = ?",
                           (json.dumps({k: v for k, v in asdict(check).items()
                                        if k in _CHECK_FIELDS}), check_id))
            self.image_path(monitor_id, check_id, "shot").unlink(missing_ok=True)

        await self._run(work)

    async def finish(self, monitor: Monitor) -> None:
        """A check of ``monitor`` ended: its record (with its next time), and the lease off.
        A monitor deleted meanwhile stays deleted."""
        record = json.dumps(asdict(monitor))
        await self._run(lambda db: db.execute(
            "UPDATE monitors SET record = ?, next_check_at = ?, paused = ?, lease_until = NULL "
            "WHERE id = ?", (record, monitor.next_check_at, int(monitor.paused), monitor.id)))

    # ---------------------------------------------------------------- checks

    async def add_check(self, check: Check) -> None:
        record = json.dumps({k: v for k, v in asdict(check).items() if k in _CHECK_FIELDS})
        await self._run(lambda db: db.execute(
            "INSERT INTO checks (id, monitor_id, at, status, load_ms, record) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (check.id, check.monitor_id, check.at, check.status, check.load_ms, record)))

    async def update_check(self, check: Check) -> None:
        record = json.dumps({k: v for k, v in asdict(check).items() if k in _CHECK_FIELDS})
        await self._run(lambda db: db.execute("UPDATE checks SET record = ? WHERE id = ?",
                                              (record, check.id)))

    async def referenced(self) -> set[str]:
        """Every check a monitor points at: its baseline, its latest, its latest change."""
        rows = await self._run(lambda db: db.execute("SELECT record FROM monitors").fetchall())
        kept: set[str] = set()
        for (record,) in rows:
            monitor = _monitor(record)
            kept.update(c for c in (monitor.baseline_check, monitor.last_check,
                                    monitor.last_change) if c)
        return kept

    async def check(self, monitor_id: str, check_id: str) -> Check | None:
        row = await self._run(lambda db: db.execute(
            "SELECT record FROM checks WHERE id = ? AND monitor_id = ?",
            (check_id, monitor_id)).fetchone())
        return None if row is None else _check(row[0])

    async def checks(self, monitor_id: str, limit: int, before: float | None = None,
                     status: str | None = None) -> list[Check]:
        """The newest ``limit`` checks (before ``before``; of ``status``), newest first."""
        query = "SELECT record FROM checks WHERE monitor_id = ?"
        args: list[Any] = [monitor_id]
        if before is not None:
            query += " AND at < ?"
            args.append(before)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        query += " ORDER BY at DESC LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda db: db.execute(query, args).fetchall())
        return [_check(row[0]) for row in rows]

    async def uptime(self, monitor_id: str, now: float) -> dict[str, float | None]:
        """The share of checks that succeeded over 24 hours, 7 days and 30 days (None: no
        check in that window)."""
        def work(db: sqlite3.Connection) -> dict[str, float | None]:
            shares: dict[str, float | None] = {}
            for name, seconds in (("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400)):
                total, good = db.execute(
                    "SELECT COUNT(*), SUM(status != 'failed') FROM checks "
                    "WHERE monitor_id = ? AND at >= ?", (monitor_id, now - seconds)).fetchone()
                shares[name] = round(good / total, 6) if total else None
            return shares

        return await self._run(work)

    async def prune(self, before: float, keep: set[str]) -> int:
        """Forget checks older than ``before`` (but those in ``keep``: baselines, the latest),
        with their images; how many."""
        def work(db: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = db.execute("SELECT id, monitor_id FROM checks WHERE at < ?",
                              (before,)).fetchall()
            gone = [(check_id, monitor_id) for check_id, monitor_id in rows
                    if check_id not in keep]
            db.executemany("DELETE FROM checks WHERE id = ?", [(c,) for c, _ in gone])
            return gone

        gone = await self._run(work)
        for check_id, monitor_id in gone:
            await asyncio.to_thread(self._remove_images, monitor_id, check_id)
        return len(gone)

    # ---------------------------------------------------------------- widgets

    async def add_widget(self, widget: Widget) -> None:
        await self._run(lambda db: db.execute(
            "INSERT INTO widgets (token, monitor_id, owner, created_at) VALUES (?, ?, ?, ?)",
            (widget.token, widget.monitor_id, widget.owner, widget.created_at)))

    async def widgets(self, monitor_id: str) -> list[Widget]:
        rows = await self._run(lambda db: db.execute(
            "SELECT token, monitor_id, owner, created_at FROM widgets WHERE monitor_id = ? "
            "ORDER BY created_at", (monitor_id,)).fetchall())
        return [Widget(*row) for row in rows]

    async def widget(self, token: str) -> Widget | None:
        row = await self._run(lambda db: db.execute(
            "SELECT token, monitor_id, owner, created_at FROM widgets WHERE token = ?",
            (token,)).fetchone())
        return None if row is None else Widget(*row)

    async def revoke(self, monitor_id: str, token: str) -> bool:
        cursor = await self._run(lambda db: db.execute(
            "DELETE FROM widgets WHERE token = ? AND monitor_id = ?", (token, monitor_id)))
        return bool(cursor.rowcount)

    # ---------------------------------------------------------------- images

    def image_path(self, monitor_id: str, check_id: str, kind: str) -> Path:
        return self.images / monitor_id / f"{check_id}.{kind}.png"

    async def put_image(self, monitor_id: str, check_id: str, kind: str, data: bytes) -> None:
        path = self.image_path(monitor_id, check_id, kind)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)

        await asyncio.to_thread(write)

    async def image(self, monitor_id: str, check_id: str, kind: str) -> bytes | None:
        path = self.image_path(monitor_id, check_id, kind)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def drop_image(self, monitor_id: str, check_id: str, kind: str) -> None:
        await asyncio.to_thread(self.image_path(monitor_id, check_id, kind).unlink, True)

    def _remove_images(self, monitor_id: str, check_id: str | None) -> None:
        folder = self.images / monitor_id
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if check_id is None or path.name.startswith(f"{check_id}."):
                path.unlink(missing_ok=True)
        if check_id is None:
            folder.rmdir()
