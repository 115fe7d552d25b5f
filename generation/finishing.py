"""Encode and sign drawn images off the render thread, so the accelerator never waits for the CPU.

``finish()`` costs about 70 ms of CPU per 512x512 image (PNG, WebP, thumbnail, XMP, blurhash, C2PA);
one after another on the render thread that capped SD-Turbo at a quarter of its bare rate on an H200
(issue 14). A :class:`Finisher` runs it in a pool of worker processes (each with its own C2PA signer,
built from the instance certificates by the pool's initializer) or, with ``processes=0``, on one
thread of this process. The pool starts its processes with ``forkserver``: forking a process that
already runs torch's thread pools and CUDA is unsafe. Nothing here imports torch.

A pool process ends when the process that made the pool ends, however it ended: a GPU worker killed
with ``kill -9`` (or by the OOM killer) never shuts its pool down, and ``concurrent.futures`` pool
processes then wait on their call queue forever, each keeping the forkserver alive with them.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from generation.output import Drawn
from generation.provenance import ContentSigner, InstanceCertificates
from generation.renderer import Outcome, finish_outcome

# Set once per pool process by _start_process; each process owns its signer (ContentSigner is not
# thread-safe and c2pa objects do not pickle).
_process_signer: ContentSigner | None = None


def _start_process(certificates: InstanceCertificates | None, owner: int) -> None:
    global _process_signer
    _process_signer = ContentSigner(certificates) if certificates is not None else None
    threading.Thread(target=_exit_with, args=(owner,), name="finish-owner-watch", daemon=True).start()


def _exit_with(owner: int) -> None:
    """Block until process ``owner`` has ended, then end this one (a pool process whose owner is gone)."""
    _wait_for_exit(owner)
    os._exit(0)


def _wait_for_exit(pid: int) -> None:
    """Return once process ``pid`` has ended (a zombie counts as ended).

    Linux: a pidfd, readable when the process ends (pidfd_open(2)); elsewhere, a look every second.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _running(pid):
            time.sleep(1.0)
        return
    try:
        select.select([pidfd], [], [])
    finally:
        os.close(pidfd)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    return True


def _finish_in_process(drawn: Drawn) -> Outcome:
    return finish_outcome(drawn, _process_signer)


def default_processes() -> int:
    """One fewer than the CPUs this process may use (the event loop and render thread keep one)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(available - 1, 0)


class Finisher:
    """Runs :func:`~generation.renderer.finish_outcome` for drawn images; :meth:`submit` returns a future.

    ``processes > 0``: a process pool of that size, started here (call this at worker start, never at
    import); ``0``: one thread in this process, using ``signer`` directly. A future resolves to the
    job's :data:`~generation.renderer.Outcome`; it raises only when the pool itself broke (a process
    was killed), which fails that job only. Close with :meth:`close`.
    """

    def __init__(
        self,
        processes: int,
        *,
        certificates: InstanceCertificates | None = None,
        signer: ContentSigner | None = None,
    ) -> None:
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, got {processes}")
        self.processes = processes
        self._certificates = certificates
        self._signer = signer if signer is not None or certificates is None else ContentSigner(certificates)
        self._executor: Executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self.processes == 0:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish")
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_start_process,
            initargs=(self._certificates, os.getpid()),
        )

    def warm_up(self) -> list[int]:
        """Start every pool process now (imports and signer set-up), not on the first image; their pids."""
        futures = [self._executor.submit(os.getpid) for _ in range(self.processes)]
        return [future.result() for future in futures]

    def submit(self, drawn: Drawn) -> Future[Outcome]:
        if self.processes == 0:
            return self._executor.submit(finish_outcome, drawn, self._signer)
        try:
            return self._executor.submit(_finish_in_process, drawn)
        except RuntimeError:
            # BrokenProcessPool (a pool process was killed): the jobs in it failed; start a fresh pool.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            return self._executor.submit(_finish_in_process, drawn)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
