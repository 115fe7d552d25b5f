"""Keep a child process running beside the web server (the GPU worker, sibling web processes), restarting
it if it dies.

The GPU worker is a separate process so torch never loads into the web process, and a crash or an
out-of-memory kill on the GPU side leaves the web server serving.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Sequence

log = logging.getLogger("fediserver.supervisor")


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        max_backoff: float = 60.0,
        pass_fds: Sequence[int] = (),
        own_session: bool = False,
    ) -> None:
        """``pass_fds``: descriptors the child inherits. ``own_session``: the child gets a session (and process
        group) of its own, so that a terminal's Ctrl-C reaches this process only, which then stops the child
        in its turn instead of restarting one that ended by itself."""
        self.argv = list(argv)
        self.name = name
        self.max_backoff = max_backoff
        self.pass_fds = tuple(pass_fds)
        self.own_session = own_session
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self._process = subprocess.Popen(self.argv, pass_fds=self.pass_fds, start_new_session=self.own_session)
            log.info("child started", extra={"child": self.name, "child_pid": self._process.pid})
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
