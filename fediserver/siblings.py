"""Several web processes on one address: ``fediserver serve`` with ``server.processes`` above one.

One Python process runs on one core at a time, so a single ``serve`` leaves the other cores of the machine
to the worker and idle while its inbox is the bottleneck (docs/benchmarks.md). The first process (the
primary) binds the listening socket, then starts the others (siblings) with that socket inherited: the
kernel hands each new connection to whichever process accepts it first, as with gunicorn's or uvicorn's
own workers. The primary alone runs the worker, the GPU worker and the start-up work; a sibling answers
requests and nothing else.

A sibling watches a pipe whose other end only the primary holds: when the primary ends, however it ends
(``kill -9`` included), the pipe reads end-of-file and the sibling shuts down, so none is left serving an
instance whose worker is gone. The primary restarts a sibling that dies (``Supervisor``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

# ``server.processes = 0``: one per core, at most this many. Beyond a few, SQLite's one writer and the
# worker's share of the cores are the limit, and each process costs its own memory.
MAX_AUTO_PROCESSES = 4


def server_processes(configured: int) -> int:
    """How many web processes to run: ``configured``, or for 0 one per usable CPU core (up to the cap)."""
    if configured > 0:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_AUTO_PROCESSES))


class BindError(Exception):
    """The address cannot be listened on (in use, not local, not permitted)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for ``host``:``port`` that child processes can inherit (listened on by each)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class Siblings:
    """What the primary needs to start its siblings: their command line and the descriptors they inherit."""

    argv: tuple[str, ...]
    count: int
    pass_fds: tuple[int, ...]


def plan_siblings(config_path: str, sock: socket.socket, count: int) -> Siblings:
    """The siblings' command line: ``serve`` on the inherited socket, without a worker, watching the primary
    through a ``parent_pipe``."""
    watch = parent_pipe()
    argv = (
        sys.executable, "-m", "fediserver", "--config", config_path, "serve", "--no-worker",
        "--socket-fd", str(sock.fileno()), "--primary-fd", str(watch),
    )  # fmt: skip
    return Siblings(argv=argv, count=count, pass_fds=(sock.fileno(), watch))


def inherited_socket(fd: int) -> socket.socket:
    """The primary's listening socket, inherited as descriptor ``fd`` (its family read from the socket)."""
    return socket.socket(fileno=fd)


def parent_pipe() -> int:
    """The read end of a pipe whose write end this process holds until it ends, however it ends (``kill -9``
    included): a child given the read end (``pass_fds``) learns of its parent's end by reading end-of-file.

    Both ends are non-inheritable (``os.pipe``), so only children named in ``pass_fds`` get the read end and
    none gets the write end, which would otherwise keep the pipe open after this process is gone.
    """
    watch, _held = os.pipe()
    return watch


def watch_parent(fd: int, on_gone: Callable[[], object]) -> threading.Thread:
    """Call ``on_gone`` (on a thread of its own) once the parent has ended: the ``parent_pipe`` read end
    ``fd`` reads end-of-file."""

    def wait() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 64):
                pass
        on_gone()

    thread = threading.Thread(target=wait, name="watch-parent", daemon=True)
    thread.start()
    return thread
