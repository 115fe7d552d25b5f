"""Keep a child process running beside the web server (the GPU worker), restarting it if it dies.

The child is a separate process so torch never loads into the web process, and a crash or an
out-of-memory kill on the GPU side leaves the web server serving.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Sequence

log = logging.getLogger("fediserver.supervisor")


class Supervisor:
    def __init__(self, argv: Sequence[str], *, name: str, max_backoff: float = 60.0) -> None:
        self.argv = list(argv)
        self.name = name
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self._process = subprocess.Popen(self.argv)
            log.info("child started", extra={"child": self.name, "pid": self._process.pid})
            code = self._process.wait()
            if self._stop.is_set():
                break
            self.restarts += 1
            log.error("child exited; restarting", extra={"child": self.name, "code": code, "in_seconds": backoff})
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff)

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout)
