"""The inbox as deployed: ``fediserver serve`` started the way ``scripts/serve`` starts it, worker on.

Run from the repository root:

    python -m bench.bench_inbox_deployed [--requests 5000] [--senders 100] [--rounds 3]
    python -m bench.bench_inbox_deployed --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench \
        --workers 2

The instance is made with the CLI as ``scripts/serve`` makes it (``fediserver init --scheme http``, ``migrate``,
``user create``) in a temporary folder; loopback senders need ``allow_private_addresses``, given through its
environment override. SQLite (default): one ``fediserver serve`` process with its in-process worker, its GPU
worker child and its access log, exactly as a newcomer runs it. With ``--database-url`` (PostgreSQL, the
scaled-out layout of the README): ``fediserver serve --no-worker`` plus ``--workers`` ``fediserver worker``
processes.

Per round: the bare starlette endpoint (reads the body, answers 202), then the shared ``/inbox``, then the
personal ``/users/alice/inbox``, each with ``--requests`` signed (cavage-12) 1 KB Creates from ``--actors``
senders, each Create mentioning alice, over ``--senders`` keep-alive connections. Acceptance is the load
phase's rate and latency. Then the drain: how fast the worker(s) process what is still queued once the load
stops (rows left at the end of the load / seconds until none is left), the rate from a phase's first request
until its last Create was processed (what worker processes do during the load counts there), and a check
that every activity was processed exactly once (every row ``done`` after one attempt; one note and one
mention notification each). Each load phase also reports the accepting process's CPU time per request
(``/proc/PID/stat``), steadier than the rate on a machine shared with others, and each drain the CPU time per
activity of the instance's processes and of the whole machine (``/proc/stat``: PostgreSQL's backends count
there).

``--hold-workers`` (PostgreSQL) stops the worker processes (SIGSTOP) during each load phase and lets them go
(SIGCONT) when it ends, so that the drain is the whole phase's backlog: the rate two workers work off a
queue at, measured over thousands of rows instead of what was left after they kept pace with the load.

``--baseline-tree PATH`` (SQLite) starts a second instance from another checkout's code and runs its two
phases beside ours in every round (the two take turns at going first): old and new code meet the same
minutes of a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import activitypub as ap
from bench.bench_inbox import Sender, actor_server
from bench.loopback import (
    HOST,
    ROOT,
    LoadResult,
    free_port,
    raw_post,
    run_load,
    start_module,
    stop_process,
    wait_for_port,
)

FEDISERVER = [sys.executable, "-m", "fediserver"]
# Warm-up Creates per sender over a phase's connections, so every web process has read every key.
WARM_PER_SENDER = 4


@dataclass
class Instance:
    folder: Path
    port: int
    database_url: str | None
    env: dict[str, str]
    root: Path = ROOT

    @property
    def config(self) -> Path:
        return self.folder / "fediserver.toml"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*FEDISERVER, "--config", str(self.config), *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"fediserver {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        return subprocess.Popen(
            [*FEDISERVER, "--config", str(self.config), *args], cwd=self.root, env=self.env, stdout=out, stderr=out
        )


def make_instance(folder: Path, port: int, database_url: str | None, root: Path = ROOT) -> Instance:
    env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1")
    # Loopback senders: the only change from scripts/serve's instance (its keys live on 127.0.0.1).
    env["FEDISERVER_FEDERATION_ALLOW_PRIVATE_ADDRESSES"] = "true"
    if database_url:
        env["FEDISERVER_DATABASE_URL"] = database_url
    instance = Instance(folder, port, database_url, env, root)
    instance.cli("init", "--domain", f"{HOST}:{port}", "--scheme", "http", "--data-dir", str(folder / "data"))
    instance.cli("migrate")
    instance.cli("user", "create", "alice")
    return instance


def signed_mention(sender: Sender, port: int, path: str, tag: str, alice: str) -> tuple[dict[str, str], bytes]:
    """A signed (cavage-12) 1 KB Create of a public note mentioning ``alice``: its headers and body."""
    note = f"{sender.uri}/notes/{tag}"
    audience = {"to": [ap.PUBLIC], "cc": [f"{sender.uri}/followers", alice]}
    mention = [{"type": "Mention", "href": alice, "name": f"@alice@{HOST}:{port}"}]
    text = "<p><span class='h-card'><a href='" + alice + "'>@alice</a></span> " + "benchmark post " * 40 + "</p>"
    activity = {
        "@context": ap.AS_CONTEXT,
        "id": f"{note}/activity",
        "type": "Create",
        "actor": sender.uri,
        "published": "2026-11-25T00:00:00Z",
        **audience,
        "object": {
            "id": note, "type": "Note", "attributedTo": sender.uri, "content": text,
            "published": "2026-11-25T00:00:00Z", "tag": mention, **audience,
        },
    }  # fmt: skip
    body = json.dumps(activity).encode()
    headers = ap.sign_request(
        method="POST", url=f"http://{HOST}:{port}{path}", headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.key_id, private_key=sender.key, now=datetime.now(UTC),
    )  # fmt: skip
    return headers, body


def signed_create(sender: Sender, port: int, path: str, tag: str, alice: str) -> bytes:
    """``signed_mention`` as the bytes of an HTTP/1.1 request."""
    headers, body = signed_mention(sender, port, path, tag, alice)
    return raw_post(path, port, headers, body)


class Rows:
    """Reads the instance's inbound queue directly (sqlite3, or one asyncpg connection kept for PostgreSQL:
    a new one per poll would fork a PostgreSQL backend fifty times a second beside the drain it measures)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.pg: Any = None

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        url = self.instance.database_url
        if url is None:
            with sqlite3.connect(self.instance.folder / "data" / "fediserver.db", timeout=30) as conn:
                return list(conn.execute(sql).fetchall())
        if self.pg is None:
            import asyncpg  # type: ignore[import-untyped]

            self.pg = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        return [tuple(r) for r in await self.pg.fetch(sql)]

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()

    async def pending(self) -> int:
        rows = await self.fetch("SELECT count(*) FROM inbound_activities WHERE state IN ('queued', 'running')")
        return int(rows[0][0])

    async def any_pending(self) -> bool:
        """Whether any row is queued or running: what the drain's polls ask, fifty times a second. A count
        read every row left, 4 ms of PostgreSQL's CPU a poll early in a drain of 4,000, a fifth of a core
        taken from the workers it measures."""
        rows = await self.fetch("SELECT EXISTS (SELECT 1 FROM inbound_activities WHERE state IN ('queued', 'running'))")
        return bool(rows[0][0])

    async def summary(self) -> dict[str, int]:
        states = await self.fetch("SELECT state, attempts, count(*) FROM inbound_activities GROUP BY state, attempts")
        notes = await self.fetch("SELECT count(*), count(DISTINCT uri) FROM notes WHERE local_actor_id IS NULL")
        mentions = await self.fetch("SELECT count(*) FROM notifications WHERE type = 'mention'")
        out = {f"{state}/attempts={attempts}": int(n) for state, attempts, n in states}
        out["notes"], out["distinct notes"] = int(notes[0][0]), int(notes[0][1])
        out["mention notifications"] = int(mentions[0][0])
        return out


async def drain(rows: Rows, limit_s: float) -> tuple[int, float]:
    """Rows left when the load stopped, and the seconds until none is queued or running."""
    left = await rows.pending()
    start = time.perf_counter()
    deadline = start + limit_s
    while await rows.any_pending():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"queue not drained after {limit_s} s")
        await asyncio.sleep(0.02)
    return left, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (``/proc/PID/stat``, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def web_processes(pid: int) -> list[int]:
    """``pid`` and its sibling web processes (``server.processes``: children started with ``--socket-fd``)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"--socket-fd" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue  # ended meanwhile
    return found


def web_cpu_seconds(pid: int) -> float:
    """CPU time of the web process ``pid`` and of its sibling web processes, all threads."""
    return sum(map(cpu_seconds, web_processes(pid)))


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent not idle so far, all cores (``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def hold(workers: list[subprocess.Popen[bytes]], held: bool) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGSTOP if held else signal.SIGCONT)


def describe(name: str, result: LoadResult, cpu_us: float) -> str:
    return (
        f"{name:>14}: {result.rate:7.0f} req/s  p50 {result.p50 * 1000:6.1f} ms  "
        f"p99 {result.percentile(99) * 1000:6.1f} ms  server CPU {cpu_us:5.0f} us/request  statuses {result.statuses}"
    )


@dataclass
class Deployed:
    """One instance's processes: ``serve`` (``web``) and any ``fediserver worker`` processes."""

    label: str
    instance: Instance
    web: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    rows: Rows
    log: Path


def deploy(args: argparse.Namespace, label: str, folder: Path, port: int, root: Path) -> Deployed:
    instance = make_instance(folder, port, args.database_url, root)
    log = folder / "server.log"
    if args.database_url:
        web = instance.start("serve", "--no-worker", log=log)
        workers = [instance.start("worker", log=log) for _ in range(args.workers)]
    else:
        web, workers = instance.start("serve", log=log), []
    return Deployed(label, instance, web, workers, Rows(instance), log)


async def bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as tmp:
        folder = Path(tmp)
        bare_port, actor_port = free_port(), free_port()
        if args.database_url:
            await reset_postgres(args.database_url)
        senders = [Sender(f"http://{HOST}:{actor_port}", i) for i in range(args.actors)]
        actors = actor_server(senders, actor_port)
        actor_task = asyncio.create_task(actors.serve())
        bare = start_module(["bench.bench_inbox", "--serve", "bare", "--dir", tmp, "--port", str(bare_port)])
        trees = [("", ROOT)] + ([(" (baseline)", args.baseline_tree.resolve())] if args.baseline_tree else [])
        deployed: list[Deployed] = []
        results: dict[str, list[LoadResult]] = {}
        # The accepting process's CPU time per request during each load phase (the web process only).
        cpu: dict[str, list[float]] = {}
        drains: dict[str, list[tuple[int, float]]] = {}
        # Each drain's CPU per activity in µs: (the instance's processes, the whole machine).
        drain_cpu: dict[str, list[tuple[float, float]]] = {}
        # Each load phase: Creates sent, and seconds from its first request until the last was processed.
        through: dict[str, list[tuple[int, float]]] = {}
        summaries: dict[str, dict[str, int]] = {}
        try:
            await asyncio.to_thread(wait_for_port, bare_port, bare)
            for i, (label, root) in enumerate(trees):
                sub = folder / f"instance{i}"
                deployed.append(await asyncio.to_thread(deploy, args, label, sub, free_port(), root))
            for d in deployed:
                await asyncio.to_thread(wait_for_port, d.instance.port, d.web, 120.0)
                alice = f"http://{HOST}:{d.instance.port}/users/alice"
                for s in senders:  # each key fetched once, before anything is timed
                    warm = signed_create(s, d.instance.port, "/inbox", "first", alice)
                    if (await run_load(d.instance.port, [warm], 1)).statuses != {202: 1}:
                        raise RuntimeError(f"warm-up refused; see {d.log}")
                # Then each key read into every web process's cache (``server.processes``): a few Creates per
                # sender over as many connections as a phase opens, which the processes share as they will.
                warm_all = [
                    signed_create(s, d.instance.port, "/inbox", f"warm-{k}", alice)
                    for k in range(WARM_PER_SENDER)
                    for s in senders
                ]
                if (await run_load(d.instance.port, warm_all, args.senders)).statuses != {202: len(warm_all)}:
                    raise RuntimeError(f"warm-up refused; see {d.log}")
                await drain(d.rows, args.drain_limit)
            for rnd in range(args.rounds):
                phases: list[tuple[str, str, Deployed | None]] = [("bare", "/inbox", None)]
                # With a baseline, the two instances take turns at going first.
                for d in deployed if rnd % 2 == 0 else deployed[::-1]:
                    phases += [("shared" + d.label, "/inbox", d), ("personal" + d.label, "/users/alice/inbox", d)]
                for name, path, target in phases:
                    # The bare endpoint gets the bytes fediserver gets, Host header included.
                    port = (target or deployed[0]).instance.port
                    alice = f"http://{HOST}:{port}/users/alice"
                    batch = [
                        # (the phase's first word: note ids must be URLs; each instance has its own database)
                        signed_create(senders[i % len(senders)], port, path, f"{name.split()[0]}-{rnd}-{i}", alice)
                        for i in range(args.requests)
                    ]
                    server = bare if target is None else target.web
                    spy = spy_on(args, server, f"{name}-{rnd + 1}".replace(" ", "")) if target is not None else None
                    if args.hold_workers and target is not None:
                        hold(target.workers, True)
                    cpu_before = web_cpu_seconds(server.pid)
                    result = await run_load(bare_port if target is None else port, batch, args.senders)
                    cpu.setdefault(name, []).append((web_cpu_seconds(server.pid) - cpu_before) / len(batch) * 1e6)
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        await asyncio.to_thread(spy.wait, 30)
                    if result.statuses != {202: len(batch)}:
                        raise RuntimeError(f"{name}: not every request was accepted: {result.statuses}")
                    results.setdefault(name, []).append(result)
                    print(f"round {rnd + 1}  {describe(name, result, cpu[name][-1])}", flush=True)
                    if target is not None:
                        processes = [target.web, *target.workers]
                        own_before, machine_before = (
                            sum(map(web_cpu_seconds, (p.pid for p in processes))),
                            machine_busy_seconds(),
                        )
                        hold(target.workers, False)
                        drainer = target.workers[0] if target.workers else target.web
                        drain_spy = spy_on(args, drainer, f"drain-{name}-{rnd + 1}".replace(" ", ""))
                        left, seconds = await drain(target.rows, args.drain_limit)
                        if drain_spy is not None:
                            drain_spy.send_signal(signal.SIGINT)
                            await asyncio.to_thread(drain_spy.wait, 30)
                        own = sum(map(web_cpu_seconds, (p.pid for p in processes))) - own_before
                        machine = machine_busy_seconds() - machine_before
                        if left:
                            drain_cpu.setdefault(target.label, []).append((own / left * 1e6, machine / left * 1e6))
                        drains.setdefault(target.label, []).append((left, seconds))
                        through.setdefault(target.label, []).append((len(batch), result.seconds + seconds))
                        print(f"         drain: {left} left after the load, done in {seconds:.2f} s", flush=True)
            for d in deployed:
                summaries[d.label] = await d.rows.summary()
        finally:
            for d in deployed:
                await d.rows.close()
                hold(d.workers, False)
                for proc in [d.web, *d.workers]:
                    stop_process(proc, 20.0)
            stop_process(bare, 20.0)
            actors.should_exit = True
            await asyncio.wait_for(actor_task, 10)
    report(args, results, cpu, drains, drain_cpu, through, summaries)
    return 0


def report(
    args: argparse.Namespace,
    results: dict[str, list[LoadResult]],
    cpu: dict[str, list[float]],
    drains: dict[str, list[tuple[int, float]]],
    drain_cpu: dict[str, list[tuple[float, float]]],
    through: dict[str, list[tuple[int, float]]],
    summaries: dict[str, dict[str, int]],
) -> None:
    layout = (
        f"PostgreSQL, serve --no-worker + {args.workers} x fediserver worker"
        if args.database_url
        else "SQLite, fediserver serve (worker in process, GPU worker child, access log)"
    )
    baseline = f"; baseline: the code in {args.baseline_tree}, phase after phase" if args.baseline_tree else ""
    print(
        f"\nPython {platform.python_version()}, {layout}; {args.senders} connections, {args.actors} actors, "
        f"{args.requests} Creates per inbox per round, medians of {args.rounds} rounds{baseline}"
    )
    print("| endpoint | accepted/s | p50 | p99 | ratio to bare | server CPU per request |")
    print("|---|---|---|---|---|---|")
    bare = results["bare"]
    for name in [*(n for n in results if n != "bare"), "bare"]:
        runs = results[name]
        rate = statistics.median(r.rate for r in runs)
        p50 = statistics.median(r.p50 * 1000 for r in runs)
        p99 = statistics.median(r.percentile(99) * 1000 for r in runs)
        ratio = statistics.median(r.rate / b.rate for r, b in zip(runs, bare, strict=True))
        cpu_us = statistics.median(cpu[name])
        print(f"| {name} | {rate:,.0f} | {p50:.1f} ms | {p99:.1f} ms | {ratio:.2f} | {cpu_us:,.0f} us |")
    creates = args.actors * (1 + WARM_PER_SENDER) + args.rounds * 2 * args.requests
    for label, summary in summaries.items():
        rates = [left / seconds for left, seconds in drains.get(label, []) if seconds > 0 and left]
        if rates:
            drain_rate = statistics.median(rates)
            print(f"drain after load{label}: median {drain_rate:,.0f} activities/s over {len(rates)} runs")
        if drain_cpu.get(label):
            own = statistics.median(o for o, _ in drain_cpu[label])
            machine = statistics.median(m for _, m in drain_cpu[label])
            print(
                f"drain CPU per activity{label}: median {own:,.0f} us in the instance's processes, "
                f"{machine:,.0f} us machine-wide"
            )
        if through.get(label):
            # With worker processes (PostgreSQL) part of each load is processed while it is accepted, so the
            # drain alone understates them; this counts both.
            end_to_end = statistics.median(n / seconds for n, seconds in through[label])
            print(f"accepted and processed{label}: median {end_to_end:,.0f} Creates/s (first request to last done)")
        print(f"exactly once{label}: {creates} Creates sent; {summary}")


def spy_on(args: argparse.Namespace, server: subprocess.Popen[bytes], phase: str) -> subprocess.Popen[bytes] | None:
    """With ``--py-spy``, a sampling profile of a process of the instance during one load phase or drain (raw
    folded stacks): the web process for a phase; for a drain, the first worker process, or the web process
    where the worker runs in it (SQLite)."""
    if not args.py_spy:
        return None
    out = Path(args.py_spy_dir) / f"{phase}.txt"
    return subprocess.Popen(
        # --nonblocking: reading the stacks without stopping the server (stopping it 250 times a second
        # cut its rate to a fifth and skewed the profile towards whatever ran long).
        [args.py_spy, "record", "--nonblocking", "-p", str(server.pid), "-r", str(args.py_spy_rate),
         "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="Creates per inbox per round")
    parser.add_argument("--senders", type=int, default=100, help="concurrent keep-alive connections")
    parser.add_argument("--actors", type=int, default=50, help="distinct signing actors")
    parser.add_argument("--database-url", help="PostgreSQL URL (its public schema is dropped!); default SQLite")
    parser.add_argument("--workers", type=int, default=2, help="fediserver worker processes (PostgreSQL only)")
    parser.add_argument("--py-spy", help="path of py-spy: profile the server during each load phase and drain")
    parser.add_argument("--py-spy-dir", default=".", help="where the profiles go (<phase>-<round>.txt)")
    parser.add_argument("--py-spy-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument(
        "--hold-workers",
        action="store_true",
        help="stop the worker processes during each load phase, so the drain is the whole backlog (PostgreSQL only)",
    )
    parser.add_argument("--drain-limit", type=float, default=300.0, help="seconds a drain may take")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/old main`): its code serves a second instance whose "
        "phases run right after ours in every round, so that both meet the same minute of a noisy machine "
        "(SQLite only)",
    )
    args = parser.parse_args(argv)
    if args.hold_workers and not args.database_url:
        parser.error("--hold-workers needs worker processes (--database-url)")
    if args.baseline_tree and args.database_url:
        parser.error("--baseline-tree runs on SQLite only (both instances would share the PostgreSQL schema)")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
