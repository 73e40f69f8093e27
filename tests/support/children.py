"""Child processes that end with the test or benchmark that started them.

A run stopped by a timeout or Ctrl-C, or killed outright, must not leave a ``screenshotd
serve``, its Chromium, a ``redis-server`` or an S3 server running, orphaned. Every helper that
starts a server starts it with :func:`popen` (or :func:`run`): the child asks Linux for SIGTERM
the moment its parent dies, by any signal, SIGKILL included (``prctl(PR_SET_PDEATHSIG)``), and
``screenshotd serve`` closes its Chromium on SIGTERM as on any stop.

The request is made by util-linux's ``setpriv --pdeathsig TERM``, which then becomes the
command: no Python runs between fork and exec. (A ``preexec_fn`` does, and in a process with
threads, a fork can copy a lock another thread held: the child then waits for it forever, and
so does its parent. The test session has threads, and that is how it hung.) Without
``setpriv``, a ``preexec_fn`` makes the same request, and a child whose parent was already
gone before it could ask ends at once.

Linux sends the signal when the *thread* that started the child ends: start a server from the
main thread, or from a thread that lives as long as the server (an event loop's executor
does). Elsewhere than Linux the children are started as usual.
"""

from __future__ import annotations

import ctypes
import os
import shutil
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


#: util-linux's ``setpriv``, which asks for the signal and then runs the command.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _armed(args: Any, kwargs: dict[str, Any]) -> Any:
    """``args`` run so that the child ends with this process: through ``setpriv``, or with a
    ``preexec_fn`` where there is none (or the command is a shell string)."""
    if _SETPRIV is not None and isinstance(args, list | tuple) and not kwargs.get("shell"):
        return [_SETPRIV, "--pdeathsig", "TERM", "--", *map(str, args)]
    kwargs["preexec_fn"] = die_with_parent()
    return args


def popen(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """:class:`subprocess.Popen` of a child that ends when this process dies."""
    return subprocess.Popen(_armed(args, kwargs), **kwargs)


def run(args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` of a child that ends when this process dies."""
    return subprocess.run(_armed(args, kwargs), **kwargs)


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
