"""Soak: mixed valid and hostile signed traffic at the inbox of a server started as ``scripts/serve`` starts it.

Run from the repository root (so this checkout's code is imported):

    HF_HUB_OFFLINE=1 python -m bench.soak [--duration 60] [--rate 100] [--connections 8]

The server is ``fediserver serve`` in its own process (``init``, ``migrate``, ``user create``, then
``serve``: the job worker in-process and the GPU worker as its supervised child, here with the tiny
model on the CPU), configured by ``FEDISERVER_*`` environment overrides only where the loopback setup
needs it (private addresses allowed, the tiny model at 64x64). This process serves the sender actors
(``--actors`` RSA-2048 keys) and their inboxes, which count what the worker delivers to them.

Before the clock starts each sender follows alice, so the worker delivers Accepts, and later posts, to
the loopback inboxes. During ``--duration`` seconds ``--connections`` keep-alive connections send
requests at ``--rate`` per second in all, each signed by a real sender (cavage-12) unless the class
is about signatures; a generation job with a post is submitted every ``--generate-every`` seconds.
Each request is one of the classes in ``CLASSES``: valid Creates, Likes and Announces, and hostile
bodies (bad ``@context``, numbers and nested arrays as ``type``, deep nesting, null/number/array
where an object or URL belongs, list or object ids, over-long ids, huge strings and tag lists,
non-JSON, oversize bodies, bad signatures and digests).

Reported: status counts per class; errors (5xx and dropped connections, goal 0); accepted-but-lost
(every id answered 202 must end as a processed row of ``inbound_activities``, goal 0, checked after
the queue drains); deliveries received; generation jobs by state; and the RSS of the server process
(and of its GPU worker) sampled every second, from the end of the warm-up to the end of the run.
Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from bench.bench_inbox import Sender
from bench.loopback import HOST, ROOT, free_port, raw_post, read_response, stop_process, wait_for_port

PASSWORD = "soak-password-0123456789"
DEEP = 3000


@dataclass
class World:
    """What a request builder needs: the senders, alice, the inbox port and a unique counter."""

    senders: list[Sender]
    alice: str
    port: int
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def sender(self) -> Sender:
        return random.choice(self.senders)

    def fresh(self, sender: Sender, kind: str) -> str:
        return f"{sender.uri}/{kind}/{next(self.counter)}"


@dataclass(frozen=True)
class Built:
    """One request: its raw bytes and the activity id it carries (None when it has no string id)."""

    raw: bytes
    activity_id: str | None


def _signed(world: World, sender: Sender, body: bytes, path: str = "/inbox", **tamper: bool) -> bytes:
    url = f"http://{HOST}:{world.port}{path}"
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.key_id, private_key=sender.key, now=datetime.now(UTC),
    )  # fmt: skip
    if tamper.get("signature"):
        name = next(k for k in headers if k.lower() == "signature")
        value = headers[name]
        cut = value.index('signature="') + len('signature="')
        flipped = "A" if value[cut] != "A" else "B"
        headers[name] = value[:cut] + flipped + value[cut + 1 :]
    if tamper.get("digest"):
        body = body + b" "
    return raw_post(path, world.port, headers, body)


def _create(world: World, sender: Sender, **note: Any) -> dict[str, Any]:
    note_id = world.fresh(sender, "notes")
    obj = {
        "id": note_id, "type": "Note", "attributedTo": sender.uri, "content": "<p>soak</p>",
        "published": "2026-11-30T00:00:00Z", "to": [ap.PUBLIC], "cc": [f"{sender.uri}/followers"],
    }  # fmt: skip
    obj.update(note)
    return {
        "@context": ap.AS_CONTEXT, "id": f"{note_id}/activity", "type": "Create", "actor": sender.uri,
        "to": [ap.PUBLIC], "cc": [f"{sender.uri}/followers"], "object": obj,
    }  # fmt: skip


def _json(world: World, activity: dict[str, Any], sender: Sender, path: str = "/inbox", **tamper: bool) -> Built:
    activity_id = activity.get("id")
    body = json.dumps(activity).encode()
    return Built(_signed(world, sender, body, path, **tamper), activity_id if isinstance(activity_id, str) else None)


def _variant(**changes: Any) -> Callable[[World], Built]:
    def build(world: World) -> Built:
        sender = world.sender()
        activity = _create(world, sender)
        activity.update(changes)
        return _json(world, activity, sender)

    return build


def _note_variant(**changes: Any) -> Callable[[World], Built]:
    def build(world: World) -> Built:
        sender = world.sender()
        return _json(world, _create(world, sender, **changes), sender)

    return build


def valid_create(world: World) -> Built:
    sender = world.sender()
    return _json(world, _create(world, sender), sender)


def valid_create_personal(world: World) -> Built:
    sender = world.sender()
    return _json(world, _create(world, sender), sender, path="/users/alice/inbox")


def valid_like(world: World) -> Built:
    sender = world.sender()
    like = {"@context": ap.AS_CONTEXT, "id": world.fresh(sender, "likes"), "type": "Like", "actor": sender.uri,
            "object": f"{sender.uri}/notes/liked"}  # fmt: skip
    return _json(world, like, sender)


def _nested(world: World, opening: bytes, closing: bytes) -> Built:
    """A valid Create with an ``extra`` member nested ``DEEP`` levels (written as bytes: json.dumps recurses)."""
    sender = world.sender()
    activity = _create(world, sender)
    body = json.dumps(activity).encode()[:-1] + b', "extra": ' + opening * DEEP + b"1" + closing * DEEP + b"}"
    return Built(_signed(world, sender, body), activity["id"])


def deep(world: World) -> Built:
    return _nested(world, b'{"a": ', b"}")


def deep_arrays(world: World) -> Built:
    return _nested(world, b"[", b"]")


def not_json(world: World) -> Built:
    return Built(_signed(world, world.sender(), b"{not json"), None)


def top_level_array(world: World) -> Built:
    return Built(_signed(world, world.sender(), b"[1, 2, 3]"), None)


def bad_signature(world: World) -> Built:
    sender = world.sender()
    return _json(world, _create(world, sender), sender, signature=True)


def bad_digest(world: World) -> Built:
    sender = world.sender()
    return _json(world, _create(world, sender), sender, digest=True)


def unsigned(world: World) -> Built:
    sender = world.sender()
    body = json.dumps(_create(world, sender)).encode()
    return Built(raw_post("/inbox", world.port, {"content-type": ap.ACTIVITY_JSON}, body), None)


def oversize(world: World) -> Built:
    sender = world.sender()
    activity = _create(world, sender, content="x" * 1_100_000)
    return Built(_signed(world, sender, json.dumps(activity).encode()), None)


def many_tags(world: World) -> Built:
    sender = world.sender()
    tags = [{"type": "Hashtag", "name": f"#t{i}", "href": f"{sender.uri}/tags/{i}"} for i in range(5000)]
    return _json(world, _create(world, sender, tag=tags), sender)


CLASSES: dict[str, tuple[float, Callable[[World], Built]]] = {
    # valid traffic: most of the load
    "valid Create (shared inbox)": (30, valid_create),
    "valid Create (personal inbox)": (10, valid_create_personal),
    "valid Like": (10, valid_like),
    # hostile, signed by a real key
    "@context empty": (2, _variant(**{"@context": ""})),
    "@context NUL": (2, _variant(**{"@context": "\u0000"})),
    "@context garbage": (2, _variant(**{"@context": "g" * 5000})),
    "type number": (2, _variant(type=7)),
    "type nested arrays": (2, _variant(type=[[["Create"]]])),
    "object null": (2, _variant(object=None)),
    "object number": (2, _variant(object=12)),
    "object array": (2, _variant(object=[1, [2]])),
    "actor null": (2, _variant(actor=None)),
    "id list": (2, _variant(id=["https://x.example/1"])),
    "id object": (2, _variant(id={"a": 1})),
    "id 3000 chars": (2, _variant(id="http://" + HOST + "/" + "i" * 3000)),
    "note id number": (2, _note_variant(id=5)),
    "attributedTo array": (2, _note_variant(attributedTo=[None, 3])),
    "content 200k": (2, _note_variant(content="<p>" + "y" * 200_000 + "</p>")),
    "5000 tags": (1, many_tags),
    "nested 3000 objects": (1, deep),
    "nested 3000 arrays": (1, deep_arrays),
    "not JSON": (2, not_json),
    "top-level array": (2, top_level_array),
    "body over 1 MB": (1, oversize),
    "bad signature": (2, bad_signature),
    "bad digest": (2, bad_digest),
    "unsigned": (2, unsigned),
}


@dataclass
class Tally:
    statuses: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    accepted: list[str] = field(default_factory=list)
    errors: int = 0
    dropped: int = 0

    def record(self, name: str, status: int | None, built: Built) -> None:
        if status is None:
            self.dropped += 1
            self.statuses[name]["dropped"] += 1
            return
        self.statuses[name][str(status)] += 1
        if status >= 500:
            self.errors += 1
        if status == 202 and built.activity_id is not None:
            self.accepted.append(built.activity_id)


async def drive(
    world: World, plan: list[tuple[str, Built]], rate: float, connections: int, tally: Tally, limit: float = 1e9
) -> float:
    """Send ``plan`` at up to ``rate`` per second over ``connections`` keep-alive connections, stopping
    after ``limit`` seconds; a request is never cut short, the rest of the plan is left unsent."""
    start = time.perf_counter()
    cursor = iter(enumerate(plan))

    async def exchange(connection: list[Any], raw: bytes) -> tuple[int, bool]:
        if not connection:
            connection.extend(await asyncio.open_connection(HOST, world.port))
        reader, writer = connection
        writer.write(raw)
        return await read_response(reader)

    async def sender() -> None:
        connection: list[Any] = []  # [reader, writer] while a keep-alive connection is open

        def close() -> None:
            if connection:
                connection[1].close()
                connection.clear()

        for index, (name, built) in cursor:
            if time.perf_counter() - start > limit:
                break
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            reused = bool(connection)
            try:
                status, closing = await exchange(connection, built.raw)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                close()
                # A kept-alive connection the server closed after its previous answer (uvicorn does
                # after an unhandled exception, without `Connection: close`) fails with EOF or a reset:
                # send again on a fresh connection, so a drop is counted against the request causing it.
                if not reused:
                    tally.record(name, None, built)
                    continue
                try:
                    status, closing = await exchange(connection, built.raw)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    close()
                    tally.record(name, None, built)
                    continue
            tally.record(name, status, built)
            if closing:
                close()
        close()

    await asyncio.gather(*(sender() for _ in range(connections)))
    return time.perf_counter() - start


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Child processes of ``pid``, whichever of its threads started them."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Sampler:
    server: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            gpu = sum(rss_kib(child) for child in children(self.server))
            self.samples.append((time.monotonic(), rss_kib(self.server), gpu))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def sink_app(by_name: dict[str, Sender], deliveries: Counter[str]) -> Starlette:
    async def actor(request: Request) -> Response:
        sender = by_name.get(request.path_params["name"])
        if sender is None:
            return Response(status_code=404)
        return JSONResponse(sender.document(), media_type=ap.ACTIVITY_JSON)

    async def inbox(request: Request) -> Response:
        body = await request.body()
        try:
            kind = json.loads(body).get("type", "?")
        except ValueError:
            kind = "not JSON"
        deliveries[str(kind)] += 1
        return Response(status_code=202)

    return Starlette(routes=[Route("/actors/{name}", actor), Route("/actors/{name}/inbox", inbox, methods=["POST"])])


def cli(folder: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "fediserver", *args], cwd=ROOT, env=env, input=stdin, text=True,
        capture_output=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"fediserver {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def start_server(folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``fediserver serve`` as scripts/serve runs it (worker and GPU worker on), its output in server.log."""
    with open(folder / "server.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "fediserver", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def inbound_rows(db: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT activity_id, state, last_error FROM inbound_activities").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def queue_states(db: Path, table: str) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute(f"SELECT state, count(*) FROM {table} GROUP BY state").fetchall())


async def soak(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        port, actor_port = free_port(), free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FEDISERVER_CONFIG": str(folder / "fediserver.toml"),
            "FEDISERVER_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true",
            "FEDISERVER_GENERATION_MODEL": "tiny",
            "FEDISERVER_GENERATION_DEVICE": args.device,
            "FEDISERVER_GENERATION_WIDTH": "64",
            "FEDISERVER_GENERATION_HEIGHT": "64",
            "FEDISERVER_GENERATION_CACHE_DIR": str(folder / "models"),
            "FEDISERVER_LOGGING_LEVEL": "warning",
            "HF_HUB_OFFLINE": "1",
            # The tiny model needs no thread pool; on a small machine torch's would starve the server.
            "OMP_NUM_THREADS": "1",
        }
        # What scripts/serve does, with the data in a temporary folder.
        cli(folder, env, "init", "--domain", f"{HOST}:{port}", "--scheme", "http", "--data-dir", str(folder / "data"))
        cli(folder, env, "migrate")
        cli(folder, env, "user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        db = folder / "data" / "fediserver.db"

        senders = [Sender(f"http://{HOST}:{actor_port}", i) for i in range(args.actors)]
        by_name = {s.uri.rsplit("/", 1)[1]: s for s in senders}
        deliveries: Counter[str] = Counter()
        sink = uvicorn.Server(
            uvicorn.Config(sink_app(by_name, deliveries), host=HOST, port=actor_port, log_config=None, access_log=False)
        )
        sink_task = asyncio.create_task(sink.serve())
        server = start_server(folder, env)
        world = World(senders, f"http://{HOST}:{port}/users/alice", port)
        tally = Tally()
        stop = asyncio.Event()
        sampler = Sampler(server.pid)
        generation: Counter[str] = Counter()
        try:
            await asyncio.to_thread(wait_for_port, port, server, 60.0)
            auth = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
            async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", headers={"authorization": auth}) as http:
                # Warm-up, untimed: every sender follows alice (its key is fetched once, Accepts go out).
                warm = Tally()
                for sender in senders:
                    follow = {"@context": ap.AS_CONTEXT, "id": world.fresh(sender, "follows"), "type": "Follow",
                              "actor": sender.uri, "object": world.alice}  # fmt: skip
                    await drive(world, [("Follow", _json(world, follow, sender))], 1000, 1, warm)
                if warm.statuses["Follow"]["202"] != len(senders):
                    raise RuntimeError(f"warm-up Follows refused: {dict(warm.statuses['Follow'])}")
                tally.accepted += warm.accepted

                weights = [w for w, _ in CLASSES.values()]
                names = random.choices(list(CLASSES), weights, k=int(args.duration * args.rate))
                print(f"signing {len(names)} requests ...", flush=True)
                plan = [(name, CLASSES[name][1](world)) for name in names]

                async def submit_generations() -> None:
                    while not stop.is_set():
                        response = await http.post(
                            "/api/v1/generations",
                            json={"prompt": f"soak {next(world.counter)}", "text": "soak render", "steps": 2},
                        )
                        generation[f"submitted {response.status_code}"] += 1
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), args.generate_every)

                await asyncio.sleep(1.0)
                sampler_task = asyncio.create_task(sampler.run(stop))
                generations_task = asyncio.create_task(submit_generations())
                print(f"soaking for {args.duration:.0f} s at {args.rate:.0f} req/s ...", flush=True)
                elapsed = await drive(world, plan, args.rate, args.connections, tally, args.duration)
                stop.set()
                await asyncio.gather(sampler_task, generations_task)

                # Drain: the inbound queue and the generation queue empty, bounded by --drain.
                deadline = time.monotonic() + args.drain
                while time.monotonic() < deadline:
                    pending = queue_states(db, "inbound_activities")
                    gens = queue_states(db, "generation_jobs")
                    if not any(pending.get(s) for s in ("queued", "running")) and not any(
                        gens.get(s) for s in ("queued", "running")
                    ):
                        break
                    await asyncio.sleep(1.0)
                drained = time.monotonic() < deadline
                # The last deliveries (a failed attempt waits for its backoff: reported, not awaited).
                for _ in range(30):
                    deliveries_now = queue_states(db, "delivery_jobs")
                    if not deliveries_now.get("running") and not deliveries_now.get("queued"):
                        break
                    await asyncio.sleep(1.0)
        finally:
            stop.set()
            alive = server.poll() is None
            stop_process(server, 30.0)
            sink.should_exit = True
            await asyncio.wait_for(sink_task, 10)
            server_log = (folder / "server.log").read_text(errors="replace")

        rows = inbound_rows(db)
        outcome: Counter[str] = Counter()
        for activity_id in tally.accepted:
            state = rows.get(activity_id, ("missing", None))[0]
            outcome[state] += 1
        lost = outcome["missing"] + outcome["queued"] + outcome["running"]
        gen_states = queue_states(db, "generation_jobs")
        delivery_states = queue_states(db, "delivery_jobs")

    sent = sum(sum(c.values()) for c in tally.statuses.values())
    print(f"\n{sent} requests in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {args.connections} connections")
    print("| class | statuses |")
    print("|---|---|")
    for name in CLASSES:
        counts = tally.statuses.get(name, Counter())
        print(f"| {name} | {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))} |")
    print(f"\nerrors (5xx + dropped): {tally.errors + tally.dropped} ({tally.errors} 5xx, {tally.dropped} dropped)")
    print(f"accepted (202 with an id, incl. {args.actors} warm-up Follows): {len(tally.accepted)}")
    print(f"  their inbound rows: {dict(outcome)}; accepted-but-lost: {lost}; queue drained: {drained}")
    print(f"server alive at the end: {alive}")
    print(f"deliveries received by the loopback inboxes: {dict(deliveries)}; delivery jobs: {delivery_states}")
    print(f"generation: {dict(generation)}; jobs by state: {gen_states}")
    if sampler.samples:
        first, last = sampler.samples[0], sampler.samples[-1]
        peak = max(s[1] for s in sampler.samples)
        print(
            f"server RSS: {first[1] / 1024:.0f} MiB at start, {last[1] / 1024:.0f} MiB at end, "
            f"peak {peak / 1024:.0f} MiB, growth {(last[1] - first[1]) / 1024:+.0f} MiB over {last[0] - first[0]:.0f} s"
        )
        print(f"GPU worker RSS: {first[2] / 1024:.0f} MiB at start, {last[2] / 1024:.0f} MiB at end")
        step = max(1, len(sampler.samples) // 6)
        trace = ", ".join(f"{t - first[0]:.0f} s: {rss / 1024:.0f}" for t, rss, _ in sampler.samples[::step])
        print(f"server RSS (MiB) over the run: {trace}")
    tracebacks = server_log.count("Traceback")
    raised: Counter[str] = Counter()
    for line in server_log.splitlines():
        # JSON log lines carry the traceback in one string: the last "\\nName: " is what was raised.
        if "Traceback" in line and (names := re.findall(r"\\n([A-Za-z_][\w.]*(?:Error|Exception)): ", line)):
            raised[names[-1]] += 1
    print(f"server log: {len(server_log.splitlines())} lines, {tracebacks} tracebacks: {dict(raised)}")
    if args.log_tail and tracebacks:
        print(server_log[-args.log_tail :])
    return 0 if tally.errors + tally.dropped + lost == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, all connections together")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--actors", type=int, default=10, help="distinct signing actors (keys)")
    parser.add_argument("--generate-every", type=float, default=5.0, help="seconds between generation jobs")
    parser.add_argument("--drain", type=float, default=180.0, help="seconds to wait for the queues to empty")
    parser.add_argument("--device", default="cpu", help="generation.device for the GPU worker")
    parser.add_argument("--log-tail", type=int, default=0, help="print this many characters of the server log")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request mix")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    return asyncio.run(soak(args))


if __name__ == "__main__":
    sys.exit(main())
