"""The application: lifespan, health, error handling, and a real `fediserver serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from fediserver.app import AppOptions, SchemaOutOfDate, create_app
from fediserver.config import Settings
from fediserver.errors import InvalidInput
from fediserver.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


async def test_health__answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0", "database": "ok", "worker": "off"}


async def test_unknown_path__is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    wrong_method = await client.post("/health")
    assert wrong_method.status_code == 405


async def test_errors__4xx_with_reason_and_500_without_traceback(
    settings: Settings, engine: object, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad_input(request: Request) -> None:
        raise InvalidInput("text: too long")

    async def broken(request: Request) -> None:
        raise RuntimeError("secret internal detail")

    app = create_app(settings, AppOptions(run_worker=False))
    app.router.routes.extend([Route("/bad", bad_input), Route("/broken", broken)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            bad = await http.get("/bad")
            crash = await http.get("/broken")
    assert (bad.status_code, bad.json()) == (422, {"error": "text: too long"})
    assert (crash.status_code, crash.json()) == (500, {"error": "internal server error"})
    assert "secret internal detail" not in crash.text
    assert "Traceback" not in crash.text
    [record] = [r for r in caplog.records if r.message == "unhandled error"]
    assert "secret internal detail" in JsonFormatter().format(record)


async def test_lifespan__refuses_an_unmigrated_database(settings: Settings) -> None:
    app = create_app(settings, AppOptions(run_worker=False))
    with pytest.raises(SchemaOutOfDate, match="fediserver migrate"):
        async with app.router.lifespan_context(app):
            pass


def test_web_process__does_not_import_torch() -> None:
    code = (
        "import sys, fediserver.app, fediserver.cli;"
        "bad = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve__starts_and_answers_health(tmp_path: Path) -> None:
    # Given a fresh instance made with the CLI, as the README does it
    port = _free_port()
    env = {**os.environ, "FEDISERVER_CONFIG": str(tmp_path / "fediserver.toml")}
    fediserver = str(BIN / "fediserver")
    for argv in (
        ["init", "--domain", f"127.0.0.1:{port}", "--scheme", "http"],
        ["migrate"],
        ["user", "create", "alice"],
    ):
        subprocess.run([fediserver, *argv], env=env, check=True, capture_output=True, timeout=60)
    # When it is served
    server = subprocess.Popen([fediserver, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        # Then its health endpoint answers
        assert response is not None, "server did not come up"
        assert response.json()["status"] == "ok"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells how it stopped.
    assert server.returncode in (0, -15)
    assert '"message": "Application startup complete."' in stderr
    assert '"message": "Application shutdown complete."' in stderr
    assert "secret_key" not in stderr


def test_serve__exits_nonzero_on_an_unmigrated_database(tmp_path: Path) -> None:
    env = {**os.environ, "FEDISERVER_CONFIG": str(tmp_path / "fediserver.toml")}
    fediserver = str(BIN / "fediserver")
    subprocess.run(
        [fediserver, "init", "--domain", "127.0.0.1:8000", "--scheme", "http"],
        env=env,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [fediserver, "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "fediserver migrate" in result.stderr


@pytest.mark.parametrize(
    ("command", "started"),
    [
        ("worker", '"message": "worker started"'),
        ("gpu-worker", '"message": "gpu worker started"'),
    ],
)
def test_workers__run_until_terminated(tmp_path: Path, command: str, started: str) -> None:
    env = {**os.environ, "FEDISERVER_CONFIG": str(tmp_path / "fediserver.toml")}
    fediserver = str(BIN / "fediserver")
    init = [fediserver, "init", "--domain", "127.0.0.1:8000", "--scheme", "http"]
    subprocess.run(init, env=env, check=True, capture_output=True)
    subprocess.run([fediserver, "migrate"], env=env, check=True, capture_output=True)
    worker = subprocess.Popen([fediserver, command], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stderr is not None
        first = worker.stderr.readline()
        assert started in first
        if command == "worker":
            assert '"inbox"' in first
            assert '"delivery"' in first
    finally:
        worker.terminate()
        _, rest = worker.communicate(timeout=20)
    assert worker.returncode == 0
    assert started.replace("started", "stopped") in rest


def test_supervisor__restarts_a_dying_child_and_stops_it() -> None:
    from fediserver.supervisor import Supervisor

    child = Supervisor([sys.executable, "-c", "import sys; sys.exit(3)"], name="flaky", max_backoff=0.05)
    child.start()
    deadline = time.monotonic() + 20
    while child.restarts < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.stop()
    assert child.restarts >= 2
    sleeper = Supervisor([sys.executable, "-c", "import time; time.sleep(60)"], name="sleeper")
    sleeper.start()
    time.sleep(0.3)
    started = time.monotonic()
    sleeper.stop()
    assert time.monotonic() - started < 10
    assert sleeper.restarts == 0


def test_server_processes__auto_is_one_per_usable_core_up_to_the_cap() -> None:
    from fediserver.siblings import MAX_AUTO_PROCESSES, server_processes

    cores = len(os.sched_getaffinity(0))
    assert server_processes(0) == max(1, min(cores, MAX_AUTO_PROCESSES))
    assert server_processes(3) == 3


async def test_health__a_sibling_process_names_the_primary_as_its_worker(settings: Settings, engine: object) -> None:
    app = create_app(settings, AppOptions(run_worker=False, sibling=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["worker"] == "primary"


def test_json_log__names_the_process() -> None:
    import json
    import logging

    record = logging.LogRecord("fediserver.test", logging.INFO, __file__, 1, "hello", (), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["pid"] == os.getpid()
    assert entry["message"] == "hello"
