"""Child processes that end with the test or benchmark that started them.

A run stopped by a timeout or Ctrl-C, or killed outright, must not leave a ``screenshotd
serve``, its Chromium, a ``redis-server`` or an S3 server running, orphaned. Every helper that
starts a server starts it with :func:`popen` (or :func:`run`): the child asks Linux for SIGTERM
the moment its parent dies, by any signal, SIGKILL included (``prctl(PR_SET_PDEATHSIG)``), and
``screenshotd serve`` closes its Chromium on SIGTERM as on any stop. A child whose parent was
already gone before it could ask ends at once.

Linux sends the signal when the *thread* that started the child ends: start a server from the
main thread, or from a thread that lives as long as the server (an event loop's executor
does). Elsewhere than Linux the children are started as usual.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


#: Looked up once, in the parent: the child only calls it (no loading between fork and exec).
_PRCTL = _prctl()


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child receive ``sig`` when this process dies (None where
    the system cannot)."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    prctl = _PRCTL

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), sig)

    return arm


def popen(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """:class:`subprocess.Popen` of a child that ends when this process dies."""
    return subprocess.Popen(args, preexec_fn=die_with_parent(), **kwargs)  # noqa: PLW1509


def run(args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` of a child that ends when this process dies."""
    return subprocess.run(args, preexec_fn=die_with_parent(), **kwargs)  # noqa: PLW1509


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children, …), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
