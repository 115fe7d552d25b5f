"""Status creation with one image over the Mastodon API, against a bare starlette endpoint (issue 10, Speed).

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_api_status [--rounds 3] [--statuses 300] [--warmup 30]

The server is started as ``scripts/serve`` starts it: ``fediserver init`` writes the config, ``fediserver
migrate``, ``fediserver user create alice``, ``fediserver token create alice``, then ``fediserver serve``
in its own process (the same app factory, uvicorn settings, JSON logging, ``gc.freeze()`` and the
in-process job worker on). Only ``[api] rate_limit_requests`` is raised in the config, so that the
benchmark's own requests are not answered 429. Each iteration uploads a PNG with ``POST /api/v2/media``
(untimed), then times ``POST /api/v1/statuses`` with ``status``, ``media_ids[]`` and ``visibility``
from one keep-alive client, one request at a time. alice has no followers, so the status queues no
delivery: the figure is status creation excluding delivery (the target is p99 < 30 ms). The bare
endpoint, in its own uvicorn process, reads the same form body and answers a small JSON document.
Each round runs the bare endpoint, then fediserver; figures are medians over rounds, and the ratio is
fediserver's p99 over the bare endpoint's p99 in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.loopback import HOST, ROOT, free_port, start_module, stop_process, wait_for_port

TARGET_P99_S = 0.030


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 11) % 256, 200)).save(out, "PNG")
    return out.getvalue()


def _cli(config: Path, *args: str) -> str:
    """``fediserver --config CONFIG args`` from this checkout; its standard output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), FEDISERVER_CONFIG=str(config))
    done = subprocess.run(
        [sys.executable, "-m", "fediserver", "--config", str(config), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fediserver {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def prepare(folder: Path, port: int) -> tuple[Path, str]:
    """A fresh instance as ``scripts/serve`` makes one; returns (config path, alice's access token)."""
    config = folder / "fediserver.toml"
    _cli(config, "init", "--domain", f"{HOST}:{port}", "--scheme", "http", "--data-dir", str(folder / "data"))
    with config.open("a") as handle:
        handle.write("\n[api]\nrate_limit_requests = 1000000000\n")
    _cli(config, "migrate")
    _cli(config, "user", "create", "alice")
    token = _cli(config, "token", "create", "alice", "--scopes", "read write").strip().splitlines()[-1].strip()
    return config, token


def serve_bare(port: int) -> None:
    async def statuses(request: Request) -> Response:
        form = await request.form()
        return JSONResponse(
            {"id": "1", "content": str(form.get("status", "")), "media_ids": form.getlist("media_ids[]")}
        )

    app = Starlette(routes=[Route("/api/v1/statuses", statuses, methods=["POST"])])
    uvicorn.run(app, host=HOST, port=port, log_config=None, log_level="warning", access_log=False)


async def _upload(http: httpx.AsyncClient, seed: int) -> str:
    answer = await http.post(
        "/api/v2/media",
        files={"file": (f"image-{seed}.png", _png(seed), "image/png")},
        data={"description": f"test image {seed}"},
    )
    if answer.status_code not in (200, 202):
        raise RuntimeError(f"media upload answered {answer.status_code}: {answer.text[:200]}")
    media_id: str = answer.json()["id"]
    return media_id


async def measure(port: int, token: str | None, count: int, warmup: int) -> list[float]:
    """Seconds per ``POST /api/v1/statuses`` (each after an untimed media upload when ``token``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", headers=headers, timeout=30.0) as http:
        for i in range(warmup + count):
            media_id = await _upload(http, i) if token else str(i)
            body = {"status": f"benchmark status {i}", "media_ids[]": [media_id], "visibility": "public"}
            start = time.perf_counter()
            answer = await http.post("/api/v1/statuses", data=body)
            elapsed = time.perf_counter() - start
            if answer.status_code != 200:
                raise RuntimeError(f"status creation answered {answer.status_code}: {answer.text[:200]}")
            if token and len(answer.json()["media_attachments"]) != 1:
                raise RuntimeError("the status came back without its image")
            if i >= warmup:
                latencies.append(elapsed)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def bench(args: argparse.Namespace) -> int:
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-status-") as tmp:
        fed_port, bare_port = free_port(), free_port()
        config, token = prepare(Path(tmp), fed_port)
        env = dict(os.environ, PYTHONPATH=str(ROOT), FEDISERVER_CONFIG=str(config))
        server = subprocess.Popen(
            [sys.executable, "-m", "fediserver", "--config", str(config), "serve", "--port", str(fed_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bare = start_module(["bench.bench_api_status", "--serve-bare", str(bare_port)])
        try:
            wait_for_port(fed_port, server, within=120.0)
            wait_for_port(bare_port, bare, within=60.0)
            for round_no in range(args.rounds):
                base = asyncio.run(measure(bare_port, None, args.statuses, args.warmup))
                ours = asyncio.run(measure(fed_port, token, args.statuses, args.warmup))
                row = {
                    "bare_p50_ms": statistics.median(base) * 1000,
                    "bare_p99_ms": percentile(base, 99) * 1000,
                    "p50_ms": statistics.median(ours) * 1000,
                    "p99_ms": percentile(ours, 99) * 1000,
                }
                row["ratio_p99"] = row["p99_ms"] / row["bare_p99_ms"]
                rows.append(row)
                print(f"round {round_no + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
        finally:
            stop_process(server)
            stop_process(bare)
    summary = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    result = {
        "benchmark": "api_status_create_with_image",
        "statuses_per_round": args.statuses,
        "rounds": args.rounds,
        "python": platform.python_version(),
        **{k: round(v, 3) for k, v in summary.items()},
        "target_p99_ms": TARGET_P99_S * 1000,
        "meets_target": summary["p99_ms"] < TARGET_P99_S * 1000,
    }
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--statuses", type=int, default=300, help="timed statuses per server per round")
    parser.add_argument("--warmup", type=int, default=30, help="untimed statuses before each timed run")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
