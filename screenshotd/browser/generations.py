"""Chromium's generations: launching, recycling, crash recovery and bounded closes.

Each launched Chromium is a :class:`Generation`. :class:`Generations` keeps the current one and
the older ones still finishing their leases:

- **Recycling.** After ``recycle_after`` captures (the pool counts them) a new generation is
  launched in the background while the current one keeps serving; once it is up it becomes
  current, and the old one retires: it is closed when its last lease ends. No request waits
  for a launch while a working browser exists.
- **Crash recovery.** When Chromium disconnects or dies, the generation is marked dead (its
  ``disconnected`` event wakes the leases using it) and a relaunch starts at once.
- **Bounded closes.** A close that does not finish in time, or a browser that was never
  closed, is ended by SIGKILL to its process group, so nothing outlives the pool.

The pool owns the background tasks (``spawn``) and says whether it is still open (``is_open``);
it hears of each new generation through ``on_install``, to fill its warm contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, Playwright

from screenshotd import errors
from screenshotd.browser.chromium import (
    IGNORED_DEFAULT_ARGS,
    find_browser_pid,
    kill_process_group,
    launch_args,
)
from screenshotd.browser.kept import KeptPages
from screenshotd.browser.lease import PoolContext
from screenshotd.net.proxy import EgressProxy

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
LAUNCH_TIMEOUT_S = 30.0


@dataclass(eq=False)
class Generation:
    """One launched Chromium, the warm contexts made in it, and its leases."""

    number: int
    browser: Browser
    pid: int | None
    #: Fresh contexts made ahead, each with a blank page (in page and caller modes, pages
    #: ready to be kept by the first caller they are lent to).
    warm: deque[PoolContext] = field(default_factory=deque)
    #: Page and caller modes: the kept pages, by owner (idle, lent, or being reset), and the
    #: event that says one came back from its reset (or was given up on).
    kept: KeptPages = field(default_factory=KeptPages)
    returned: asyncio.Event = field(default_factory=asyncio.Event)
    captures: int = 0
    leases: int = 0
    alive: bool = True
    retiring: bool = False
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)


class Generations:
    def __init__(
        self,
        *,
        executable_path: str | None,
        extra_args: tuple[str, ...],
        egress: EgressProxy | None,
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        is_open: Callable[[], bool],
        on_install: Callable[[Generation], None],
    ) -> None:
        self.executable_path = executable_path
        self.extra_args = extra_args
        self.egress = egress
        self._spawn = spawn
        self._is_open = is_open
        self._on_install = on_install
        self.playwright: Playwright | None = None
        self.current: Generation | None = None
        self._all: list[Generation] = []
        self._launching: asyncio.Task[Generation] | None = None
        self._count = 0
        self.browser_version = ""
        self.restarts = 0  # relaunches after a crash or disconnect
        self.recycles = 0  # planned relaunches after recycle_after captures

    async def start(self, playwright: Playwright) -> None:
        """Launch the first generation and make it current."""
        self.playwright = playwright
        self._install(await self._launch())

    async def live(self) -> Generation:
        """The current generation, waiting for a launch in progress (or starting one)."""
        generation = self.current
        if generation is not None and generation.alive:
            return generation
        task = self._launching or self._start_launch()
        try:
            return await asyncio.wait_for(asyncio.shield(task), LAUNCH_TIMEOUT_S)
        except TimeoutError:
            raise errors.BrowserCrashed("the browser is restarting", retry_after=5) from None
        except errors.ScreenshotError:
            raise
        except Exception as exc:
            log.error("browser launch failed: %r", exc)
            raise errors.BrowserCrashed("the browser could not be started", retry_after=5) from exc

    def recycle(self, generation: Generation) -> None:
        """Start replacing ``generation`` with a fresh launch, once."""
        if generation is self.current and self._launching is None and not generation.retiring:
            self.recycles += 1
            log.info("recycling chromium after %d captures", generation.captures)
            self._start_launch()

    async def lease_ended(self, generation: Generation) -> bool:
        """Called as each lease ends: close a retiring generation with none left. Whether the
        generation still serves."""
        if generation.retiring and generation.leases == 0:
            await self.close_one(generation)
            return False
        return generation.alive and not generation.retiring

    async def died(self, generation: Generation) -> bool:
        """Whether the browser is gone, waiting briefly for the disconnect to be noticed."""
        if not generation.alive:
            return True
        if not generation.browser.is_connected():
            self._on_disconnect(generation)
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(generation.disconnected.wait(), 0.5)
        return not generation.alive

    def kill(self, generation: Generation) -> None:
        """SIGKILL the generation's process group, if anything of it is left."""
        kill_process_group(generation.pid)

    async def stop_launching(self) -> None:
        """Cancel a launch in progress (the pool is closing); a browser it already started is
        closed with the others."""
        if self._launching is not None:
            self._launching.cancel()
            with contextlib.suppress(BaseException):
                self._all.append(await self._launching)

    async def close(self) -> None:
        """Close every generation (the pool is closing)."""
        for generation in list(self._all):
            await self.close_one(generation)
        self.current = None

    async def close_one(self, generation: Generation) -> None:
        if generation in self._all:
            self._all.remove(generation)
        elif generation.pid is None:
            return
        generation.alive = False
        generation.warm.clear()
        generation.kept.drain()
        try:
            await asyncio.wait_for(generation.browser.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("chromium generation %d did not close in time; killing", generation.number)
        except Exception as exc:  # noqa: BLE001 - closing a dead browser may fail
            log.debug("browser close: %r", exc)
        self.kill(generation)
        generation.pid = None

    # ------------------------------------------------------------------ internals

    async def _launch(self) -> Generation:
        assert self.playwright is not None
        marker = f"--screenshotd-pool={uuid.uuid4().hex}"
        args = launch_args(*self.extra_args, marker,
                           *(self.egress.launch_args() if self.egress is not None else ()))
        browser = await asyncio.wait_for(
            self.playwright.chromium.launch(
                executable_path=self.executable_path,
                args=args,
                ignore_default_args=IGNORED_DEFAULT_ARGS,
                headless=True,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
                timeout=LAUNCH_TIMEOUT_S * 1000,
            ),
            LAUNCH_TIMEOUT_S + 5,
        )
        self._count += 1
        generation = Generation(self._count, browser, find_browser_pid(marker))
        self.browser_version = browser.version
        browser.on("disconnected", lambda _b: self._on_disconnect(generation))
        log.info(
            "chromium %s launched (generation %d, pid %s)",
            browser.version, generation.number, generation.pid,
        )
        return generation

    def _install(self, generation: Generation) -> None:
        old = self.current
        self.current = generation
        self._all.append(generation)
        self._on_install(generation)
        if old is not None and old is not generation:
            old.retiring = True
            if old.leases == 0:
                self._spawn(self.close_one(old))

    def _start_launch(self) -> asyncio.Task[Generation]:
        task = asyncio.get_running_loop().create_task(self._launch())
        self._launching = task

        def done(t: asyncio.Task[Generation]) -> None:
            if self._launching is t:
                self._launching = None
            if t.cancelled():
                return
            if t.exception() is not None:
                log.error("chromium launch failed: %r", t.exception())
                return
            if self._is_open():
                self._install(t.result())
            else:
                self._all.append(t.result())
                self._spawn(self.close_one(t.result()))

        task.add_done_callback(done)
        return task

    def _on_disconnect(self, generation: Generation) -> None:
        if not generation.alive:
            return
        generation.alive = False
        generation.disconnected.set()
        generation.warm.clear()
        generation.kept.drain()
        if generation is self.current and self._is_open():
            self.restarts += 1
            log.warning("chromium (generation %d) disconnected; relaunching", generation.number)
            if self._launching is None:
                self._start_launch()
        if generation.leases == 0 or generation.retiring:
            self._spawn(self.close_one(generation))
