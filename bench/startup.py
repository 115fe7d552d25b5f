"""Start-up time and resident memory of `fediserver serve`, against a bare uvicorn + starlette app.

Each round launches the process, polls GET /health until it answers 200 (the time to ready), then reads
VmRSS from /proc. Both are measured in the same run, alternating, so the ratio survives a noisy machine.

    .venv/bin/python bench/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def health(request):
    return JSONResponse({"status": "ok"})

uvicorn.run(Starlette(routes=[Route("/health", health)]), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(argv: list[str], port: int, env: dict[str, str]) -> tuple[float, float, bool]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{argv} did not become ready")
            time.sleep(0.01)
        ready = time.perf_counter() - start
        time.sleep(0.3)
        torch_loaded = "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
        return ready, rss_mb(proc.pid), torch_loaded
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FEDISERVER_CONFIG": str(Path(tmp) / "fediserver.toml")}
        fediserver = str(BIN / "fediserver")
        init = [fediserver, "init", "--domain", "127.0.0.1:8000", "--scheme", "http"]
        subprocess.run(init, env=env, check=True, capture_output=True)
        subprocess.run([fediserver, "migrate"], env=env, check=True, capture_output=True)
        ours: list[tuple[float, float, bool]] = []
        bare: list[tuple[float, float, bool]] = []
        for _ in range(rounds):
            port = free_port()
            ours.append(measure([fediserver, "serve", "--port", str(port)], port, env))
            port = free_port()
            bare.append(measure([sys.executable, "-c", BARE_APP, str(port)], port, env))
    ready_ours = statistics.median(r[0] for r in ours)
    ready_bare = statistics.median(r[0] for r in bare)
    rss_ours = statistics.median(r[1] for r in ours)
    rss_bare = statistics.median(r[1] for r in bare)
    print(f"rounds: {rounds}")
    torch_loaded = any(r[2] for r in ours)
    print(f"fediserver serve: ready {ready_ours:.3f} s, RSS {rss_ours:.1f} MB, torch loaded: {torch_loaded}")
    print(f"bare starlette:   ready {ready_bare:.3f} s, RSS {rss_bare:.1f} MB")
    print(f"ratio (ours / bare): ready {ready_ours / ready_bare:.2f}x, RSS {rss_ours / rss_bare:.2f}x")


if __name__ == "__main__":
    main()
