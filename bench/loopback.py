"""Shared pieces of the federation benchmarks: loopback ports, a minimal keep-alive HTTP/1.1 client, processes.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit to ``wanted`` (capped by the hard limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def start_module(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """``python -m bench.<module> args`` from the repository root, so this checkout's code is imported."""
    extra = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + extra if extra else ""))
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, within: float = 30.0) -> None:
    """Poll until something accepts connections on ``port`` (bounded by ``within`` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {within} s")


def raw_post(path: str, port: int, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive POST (headers as given, plus Content-Length)."""
    lines = [f"POST {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("content-length",)]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"host: {HOST}:{port}")
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadResult:
    count: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise RuntimeError("chunked responses are not expected here")
    if length:
        await reader.readexactly(length)
    return status


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response (Content-Length or chunked body); its status and whether the server closes after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if fields.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    elif length := int(fields.get("content-length", "0")):
        await reader.readexactly(length)
    return status, fields.get("connection") == "close"


async def run_load(port: int, requests: Sequence[bytes], concurrency: int, limit_s: float = 120.0) -> LoadResult:
    """Send ``requests`` over ``concurrency`` keep-alive connections (one sender each); bounded by ``limit_s``.

    Each latency is from the first byte written to the last byte of the response read.
    """
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while queue:
                raw = queue.pop()
                start = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(concurrency))), limit_s)
    return LoadResult(len(requests), time.perf_counter() - start, latencies, statuses)
