"""Run a built image as Docker would, with Debian's buildah and no daemon.

A :class:`Container` is made from the image with ``buildah from`` and started with
``buildah run --isolation chroot``, which shares the host's network (so a test reaches the
service, and the service reaches a test's pages and Redis, on 127.0.0.1). It runs the image's own
entrypoint and command as the image's own user: nothing here overrides them, so a wrong
``USER``, ``ENTRYPOINT`` or ``CMD`` in the Dockerfile shows up as a failing test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import children
from tests.support.servers import free_port

DRIVER = os.environ.get("BUILDAH_STORAGE_DRIVER", "vfs")
IMAGE = os.environ.get("SCREENSHOTD_IMAGE", "screenshotd:test")


def buildah(*args: str, timeout: float = 300) -> str:
    """Run ``buildah`` with the storage driver the build used; its stdout, or an error that
    carries its stderr."""
    result = subprocess.run(["buildah", "--storage-driver", DRIVER, *args], capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class ImageConfig:
    """What the Dockerfile told the image to be."""

    user: str
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    healthcheck: list[str]
    exposed_ports: list[str]

    @classmethod
    def load(cls, image: str = IMAGE) -> ImageConfig:
        try:
            info = json.loads(buildah("inspect", "--type", "image", image))
        except RuntimeError as exc:
            raise RuntimeError(
                f"image {image} is not built: run `make image-test`, which builds it ({exc})"
            ) from None
        config: dict[str, Any] = info["Docker"]["config"]
        env = dict(item.split("=", 1) for item in config.get("Env") or [])
        return cls(
            user=config.get("User") or "",
            entrypoint=list(config.get("Entrypoint") or []),
            cmd=list(config.get("Cmd") or []),
            env=env,
            healthcheck=list((config.get("Healthcheck") or {}).get("Test") or []),
            exposed_ports=sorted(config.get("ExposedPorts") or {}),
        )


@dataclass(frozen=True)
class Proc:
    """One process, as /proc shows it."""

    pid: int
    ppid: int
    start: int  # clock ticks since boot: with the pid, it names the process uniquely
    comm: str
    uids: tuple[int, ...]  # real, effective, saved, filesystem

    @classmethod
    def read(cls, pid: int) -> Proc | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        return cls(pid=pid, ppid=int(fields[1]), start=int(fields[19]), comm=comm,
                   uids=tuple(int(u) for u in uid_line.split()[1:]))

    def alive(self) -> bool:
        again = Proc.read(self.pid)
        return again is not None and again.start == self.start


def descendants(root: int) -> list[Proc]:
    """Every process below ``root`` (not ``root`` itself)."""
    procs = [p for p in (Proc.read(int(d)) for d in os.listdir("/proc") if d.isdigit()) if p]
    children: dict[int, list[Proc]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


class Container:
    """One container of the image, started with its own entrypoint, command and user."""

    def __init__(self, env: dict[str, str], image: str = IMAGE) -> None:
        self.config = ImageConfig.load(image)
        self.port = int(env.get("PORT", self.config.env.get("PORT", "3000")))
        self.env = env
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = buildah("from", "--pull-never", "--quiet", image).strip()
        self.log = tempfile.NamedTemporaryFile(prefix="screenshotd-image-", suffix=".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._moved = False

    def _run_argv(self, argv: list[str]) -> list[str]:
        env_flags = [f"--env={key}={value}" for key, value in self.env.items()]
        return ["buildah", "--storage-driver", DRIVER, "run", "--isolation", "chroot",
                *env_flags, self.name, "--", *argv]

    def start(self) -> None:
        """Start the image's entrypoint and command, as ``docker run`` does."""
        self.started_at = time.monotonic()
        self.proc = children.popen(self._run_argv(self.config.entrypoint + self.config.cmd),
                                   stdout=self.log, stderr=subprocess.STDOUT,
                                   start_new_session=True)

    def wait_healthy(self, timeout: float = 60) -> float:
        """Wait for ``/health`` to answer 200; the seconds from :meth:`start` until it did."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.TransportError:
                pass
            assert self.proc is not None
            if self.proc.poll() is not None:
                if "address already in use" in self.output() and not self._moved:
                    # The port was free when the test picked it, and something (often an
                    # outgoing connection's ephemeral port) took it before the container bound
                    # it: start again, once, on another free port.
                    self._moved = True
                    self.port = free_port()
                    self.env = {**self.env, "PORT": str(self.port)}
                    self.base = f"http://127.0.0.1:{self.port}"
                    self.log.truncate(0)
                    self.log.seek(0)
                    self.start()
                    continue
                raise RuntimeError(f"the image exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no /health 200 within {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def exec(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run another command in the running container (as ``docker exec`` does)."""
        return subprocess.run(self._run_argv(argv), capture_output=True, text=True,
                              timeout=timeout)

    def entrypoint_process(self) -> Proc:
        """The process the image's entrypoint became (PID 1 of a Docker container)."""
        assert self.proc is not None
        name = Path(self.config.entrypoint[0]).name[:15]
        for proc in descendants(self.proc.pid):
            if proc.comm == name:
                return proc
        raise AssertionError(f"no {name} process under buildah run {self.proc.pid}")

    def processes(self) -> list[Proc]:
        """The entrypoint's process and every process below it: what runs in the container."""
        top = self.entrypoint_process()
        return [top, *descendants(top.pid)]

    def stop(self, timeout: float) -> float:
        """SIGTERM to the entrypoint, as ``docker stop`` sends it; the seconds until the
        container's command exited. After ``timeout`` everything in the container is killed,
        as Docker's SIGKILL does, and the stop fails."""
        assert self.proc is not None
        os.kill(self.entrypoint_process().pid, signal.SIGTERM)
        began = time.monotonic()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"still running {timeout} s after SIGTERM:\n{self.output()}") from None
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL to every process of the container and to ``buildah run`` (the container's
        processes are in a session of their own, so a signal to buildah's group misses them)."""
        assert self.proc is not None
        for proc in descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def remove(self) -> None:
        """Stop the container if it still runs (SIGTERM, then SIGKILL to all of it after
        30 s) and delete it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop(timeout=30)
            except (AssertionError, ProcessLookupError):
                if self.proc.poll() is None:
                    self.kill()
        buildah("rm", self.name)
        self.log.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
