"""An outsider's fuzzer for the inbox: signed, malformed activities from a real remote actor (issue 8).

Run from the repository root (so this checkout's code is imported):

    python -m bench.fuzz_inbox [--bodies 600] [--seed 8] [--concurrency 8] [--url http://HOST:PORT]

Without ``--url`` it sets an instance up the way the README does (``fediserver init``, ``migrate``,
``user create alice``, ``serve``) in a temporary folder, with ``federation.allow_private_addresses`` on
so that it may fetch the sender's key from loopback and the GPU worker off. With ``--url``, the target
must have a user ``alice`` and be allowed to fetch from 127.0.0.1. The sender, ``mallory``, is an actor
with a real RSA key served by a small server in this process; every body is signed by it (cavage-12) and
sent alternately to ``/users/alice/inbox`` and ``/inbox``. The report counts statuses per input class;
the goal is 0 × 5xx, 0 dropped connections, the server alive afterwards and, for an instance started
here, every 202 stored. Exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
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
from bench.loopback import HOST, ROOT, free_port, stop_process, wait_for_port

JSON = dict[str, Any]
HOSTILE: list[Any] = [
    "", "\u0000", "\ud800", "garbage " * 400, "javascript:alert(1)", "http://", "https://u:p@example.com/",
    "https://e.example/#f", "https://" + "a" * 2100 + ".example/", 0, -1, 2**70, 1.5, True, None, [], {},
    [[["Create"]]], [None], [{}], {"id": []}, [1, [2, [3]]], "x" * 250_000,
]  # fmt: skip
PATHS = [
    ("@context",), ("id",), ("type",), ("actor",), ("object",), ("to",), ("cc",), ("object", "id"),
    ("object", "type"), ("object", "content"), ("object", "tag"), ("object", "attachment"),
    ("object", "to"), ("object", "inReplyTo"), ("object", "attributedTo"), ("object", "url"),
]  # fmt: skip


class Sender:
    """``mallory``: a remote actor with a real key, served on loopback."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.uri = f"{base}/users/mallory"
        self.key_id = f"{self.uri}#main-key"
        self.key = ap.generate_rsa_key()
        self.counter = 0

    def document(self) -> JSON:
        return {
            "@context": [ap.AS_CONTEXT, ap.SECURITY_V1_CONTEXT], "id": self.uri, "type": "Person",
            "preferredUsername": "mallory", "inbox": f"{self.uri}/inbox", "outbox": f"{self.uri}/outbox",
            "followers": f"{self.uri}/followers",
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": ap.public_key_pem(self.key)},
        }  # fmt: skip

    def app(self) -> Starlette:
        async def actor(request: Request) -> Response:
            return JSONResponse(self.document(), media_type=ap.ACTIVITY_JSON)

        async def inbox(request: Request) -> Response:
            return Response(status_code=202)

        return Starlette(
            routes=[Route("/users/mallory", actor), Route("/users/mallory/inbox", inbox, methods=["POST"])]
        )

    def fresh(self) -> str:
        self.counter += 1
        return f"{self.base}/objects/{self.counter}"

    def valid(self, rng: random.Random, alice: str) -> JSON:
        note_id = self.fresh()
        kind = rng.choice(["Create", "Follow", "Like", "Announce"])
        if kind == "Create":
            obj: Any = {
                "id": note_id, "type": "Note", "attributedTo": self.uri, "content": "<p>hi</p>",
                "to": [ap.PUBLIC], "tag": [{"type": "Mention", "href": alice}],
            }  # fmt: skip
        else:
            obj = alice if kind != "Announce" else f"{alice}/notes/x"
        return {
            "@context": ap.AS_CONTEXT, "id": f"{note_id}/activity", "type": kind, "actor": self.uri,
            "to": [ap.PUBLIC], "object": obj,
        }  # fmt: skip


def _set(document: JSON, path: tuple[str, ...], value: Any) -> None:
    target: Any = document
    for name in path[:-1]:
        if not isinstance(target.get(name), dict):
            target[name] = {}
        target = target[name]
    target[path[-1]] = value


def _dump(document: Any) -> bytes:
    return json.dumps(document).encode()


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.randint(-(2**70), 2**70)
    if choice == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(20)))
    if choice == 4:
        return copy.deepcopy(rng.choice(HOSTILE))
    if choice in (5, 6):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["id", "type", "href", "a", "@id"]): _random_json(rng, depth + 1) for _ in range(3)}


def corpus(sender: Sender, alice: str, count: int, seed: int) -> list[tuple[str, bytes, str | None]]:
    """(class, body, activity id when the body is the honest control) × ``count``."""
    rng = random.Random(seed)

    def at(path: tuple[str, ...], values: list[Any]) -> Callable[[], bytes]:
        def make() -> bytes:
            doc = sender.valid(rng, alice)
            _set(doc, path, copy.deepcopy(rng.choice(values)))
            return _dump(doc)

        return make

    def deep() -> bytes:
        depth = rng.choice([65, 100, 930, 1000, 3000, 5000, 20_000])
        shape = rng.randrange(3)
        if shape == 0:
            return b'{"a":' * depth + b"1" + b"}" * depth
        if shape == 1:
            return b"[" * depth + b"]" * depth
        return b'{"type":"Create","object":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"

    def mutated() -> bytes:
        doc = sender.valid(rng, alice)
        for _ in range(rng.randint(1, 3)):
            _set(doc, rng.choice(PATHS), _random_json(rng))
        return _dump(doc)

    def raw() -> bytes:
        valid = _dump(sender.valid(rng, alice))
        return rng.choice(
            [
                valid[: rng.randrange(len(valid))],
                bytes(rng.randrange(256) for _ in range(rng.randrange(200))),
                b'{"a": NaN}', b'{"a": 1e999}', b"1" * 5000, b'"\\ud800"', b"[]", b"null", b"",
                valid.replace(b'"type"', b'"type":"x","type"', 1), valid.replace(b"Create", b"Cr\\u0000eate"),
            ]
        )  # fmt: skip

    def oversize() -> bytes:
        doc = sender.valid(rng, alice)
        what = rng.randrange(4)
        if what == 0:
            doc["to"] = [f"{sender.base}/u/{n}" for n in range(1_001)]
        elif what == 1:
            doc["object"] = (
                {**doc["object"], "tag": [{"type": "Hashtag", "name": "#x"}] * 300}
                if isinstance(doc["object"], dict)
                else [doc["object"]] * 2_001
            )
        elif what == 2:
            doc["padding"] = ["x"] * 2_001
        else:
            doc["padding"] = {f"k{n}": n for n in range(1_001)}
        return _dump(doc)

    classes: dict[str, Callable[[], bytes]] = {
        "@context": at(("@context",), ["", "\u0000", "garbage " * 400, 5, 1.5, [ap.AS_CONTEXT, 5], [[]], True]),
        "type": at(("type",), [5, [["Create"]], [], "", None, {"a": 1}, "T" * 300]),
        "id": at(("id",), [["https://e.example/1"], {"id": "https://e.example/1"}, 5, "javascript:x", None,
                           f"{sender.base}/" + "a" * 2100, "https://u:p@e.example/x"]),
        "actor/object shape": at(rng.choice([("actor",), ("object",)]), [None, 5, [], [[sender.uri]], {}, {"id": 5}]),
        "deep nesting": deep,
        "random mutation": mutated,
        "raw bytes": raw,
        "oversize": oversize,
    }  # fmt: skip
    out: list[tuple[str, bytes, str | None]] = []
    names = list(classes)
    for n in range(count):
        if n % 10 == 9:
            doc = sender.valid(rng, alice)
            out.append(("valid (control)", _dump(doc), doc["id"]))
        else:
            name = names[n % len(names)]
            out.append((name, classes[name](), None))
    return out


def start_instance(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """An instance set up as the README says, in ``folder``; returns the server process and its database."""
    config = folder / "fediserver.toml"
    cli = [sys.executable, "-m", "fediserver", "--config", str(config)]
    data = folder / "data"

    def run(*argv: str, stdin: bytes | None = None) -> None:
        subprocess.run([*cli, *argv], cwd=ROOT, check=True, capture_output=True, input=stdin)

    run("init", "--domain", f"{HOST}:{port}", "--scheme", "http", "--data-dir", str(data))
    with config.open("a") as fh:
        fh.write("\n[federation]\nallow_private_addresses = true\n\n[generation]\nenabled = false\n")
    run("migrate")
    run("user", "create", "alice", "--password-stdin", stdin=b"password-alice-123\n")
    # The server's log goes to a file: its "unhandled error" lines are counted in the report.
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen([*cli, "serve", "--host", HOST, "--port", str(port)], cwd=ROOT, stdout=log, stderr=log)
    wait_for_port(port, proc)
    databases = list(data.rglob("*.sqlite")) + list(data.rglob("*.db"))
    return proc, databases[0] if databases else data / "fediserver.sqlite"


async def fuzz(target: str, bodies: list[tuple[str, bytes, str | None]], sender: Sender, concurrency: int) -> Any:
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    accepted: list[str] = []
    queue = list(enumerate(bodies))
    paths = ["/users/alice/inbox", "/inbox"]

    async def worker(http: httpx.AsyncClient) -> None:
        while queue:
            n, (name, body, control_id) = queue.pop()
            url = target + paths[n % 2]
            headers = ap.sign_request(
                method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
                key_id=sender.key_id, private_key=sender.key, now=datetime.now(UTC),
            )  # fmt: skip
            try:
                response = await http.post(url, content=body, headers=headers)
            except httpx.TransportError as exc:
                statuses[name][f"dropped ({type(exc).__name__})"] += 1
                continue
            statuses[name][str(response.status_code)] += 1
            if response.status_code == 202:
                document = json.loads(body)
                accepted.append(document["id"])
            elif control_id is not None:
                statuses[name][f"control refused: {response.text[:80]}"] += 1

    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        alive = (await http.get(target + "/health")).status_code
    return statuses, accepted, alive


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int, default=600)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--url", help="fuzz this running instance instead of starting one")
    args = parser.parse_args()

    actor_port = free_port()
    sender = Sender(f"http://{HOST}:{actor_port}")
    server = uvicorn.Server(uvicorn.Config(sender.app(), host=HOST, port=actor_port, log_config=None))
    actor_task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_for_port, actor_port)
    proc = None
    database: Path | None = None
    with tempfile.TemporaryDirectory(prefix="fuzz-inbox-") as tmp:
        try:
            if args.url:
                target = args.url.rstrip("/")
            else:
                port = free_port()
                proc, database = await asyncio.to_thread(start_instance, Path(tmp), port)
                target = f"http://{HOST}:{port}"
            bodies = corpus(sender, f"{target}/users/alice", args.bodies, args.seed)
            statuses, accepted, alive = await fuzz(target, bodies, sender, args.concurrency)
        finally:
            if proc is not None:
                exited = proc.poll()
                stop_process(proc)
            server.should_exit = True
            await actor_task
        unhandled = None
        if proc is not None:
            unhandled = (Path(tmp) / "server.log").read_text(errors="replace").count("unhandled error")
        lost = None
        if database is not None and database.exists():
            with sqlite3.connect(database) as db:
                stored = {row[0] for row in db.execute("SELECT activity_id FROM inbound_activities")}
            lost = len(set(accepted) - stored)
    total: Counter[str] = Counter()
    print(f"{'class':<22} {'sent':>5}  statuses")
    for name, counts in sorted(statuses.items()):
        total.update(counts)
        listing = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        print(f"{name:<22} {sum(counts.values()):>5}  {listing}")
    fives = sum(n for status, n in total.items() if status.startswith("5"))
    dropped = sum(n for status, n in total.items() if status.startswith("dropped"))
    controls = sum(n for status, n in total.items() if status.startswith("control refused"))
    print(f"total {len(bodies)} bodies: {fives} x 5xx, {dropped} dropped, {controls} controls refused, "
          f"{len(accepted)} accepted, lost {lost if lost is not None else 'n/a'}, /health {alive}, "
          f"unhandled errors logged {unhandled if unhandled is not None else 'n/a'}"
          + ("" if proc is None else f", server exited early: {exited is not None}"))  # fmt: skip
    ok = fives == dropped == controls == 0 and alive == 200 and not lost and not unhandled
    ok = ok and (proc is None or exited is None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
