"""The life cycle both job backends share: ``new -> open -> closing -> closed``.

:meth:`begin_shutdown` stops taking work and starts the backend's drain (``_drain_all``) as a
task; :meth:`close` awaits it. Both are safe to call more than once.
"""

from __future__ import annotations

import asyncio


class DrainingLifecycle:
    state: str = "new"
    _drain: asyncio.Task[None] | None = None

    async def _drain_all(self) -> None:
        raise NotImplementedError

    def begin_shutdown(self) -> None:
        """Stop taking work and start the drain; safe to call more than once."""
        if self.state != "open":
            return
        self.state = "closing"
        self._drain = asyncio.create_task(self._drain_all(), name="job-drain")

    async def close(self) -> None:
        if self.state == "new":
            self.state = "closed"
            return
        self.begin_shutdown()
        if self._drain is not None:
            await self._drain
