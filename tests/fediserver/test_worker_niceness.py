"""`fediserver worker` takes `worker.nice` at start, so that on a shared machine the inbox answers first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fediserver.cli import main
from fediserver.cli.run import take_niceness

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads nice values from /proc (Linux)")


def _niceness(pid: int, tid: int) -> int:
    # proc_pid_stat(5): field 19 is the nice value; fields counted after the command name's ")".
    return int(Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _worker_threads_nice(config: Path, nice: int) -> set[int]:
    """The nice values of a running `fediserver worker`'s threads, with ``worker.nice = nice``."""
    config.write_text(config.read_text() + f"\n[worker]\nnice = {nice}\npoll_interval = 0.05\n")
    worker = subprocess.Popen(
        [sys.executable, "-m", "fediserver", "--config", str(config), "worker"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            if b"worker started" in line:
                break
        else:
            pytest.fail(f"the worker exited with {worker.wait()} before it started")
        time.sleep(0.3)  # a few polls: its SQLite connection's thread exists by then
        tids = [int(tid) for tid in os.listdir(f"/proc/{worker.pid}/task")]
        assert len(tids) >= 2, "the event loop's thread and a database thread"
        return {_niceness(worker.pid, tid) for tid in tids}
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        if worker.stderr is not None:
            worker.stderr.close()


def test_worker__every_thread_runs_at_the_configured_niceness(instance: Path) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    if own > 7:
        pytest.skip(f"this test process already runs at nice {own}")
    assert _worker_threads_nice(instance, 7) == {7}


def test_worker__nice_0_leaves_the_priority_alone(instance: Path) -> None:
    assert _worker_threads_nice(instance, 0) == {os.getpriority(os.PRIO_PROCESS, 0)}


def test_config__nice_out_of_range_is_refused(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    instance.write_text(instance.read_text() + "\n[worker]\nnice = 20\n")
    assert main(["--config", str(instance), "worker"]) == 1
    assert "worker.nice: must be between 0 and 19, got 20" in capsys.readouterr().err


def test_take_niceness__a_refused_call_is_logged_and_the_worker_still_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(which: int, who: int, priority: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "getpriority", lambda which, who: 0)
    monkeypatch.setattr(os, "setpriority", refuse)
    take_niceness(19)
    assert [r.getMessage() for r in caplog.records] == ["worker.nice not applied: [Errno 1] Operation not permitted"]
