"""The inbox worker's drain rate, in process: how fast queued Creates become notes and notifications.

Run from the repository root:

    python -m bench.bench_drain [--creates 2000] [--actors 50] [--rounds 3] [--profile out.prof]
    python -m bench.bench_drain --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench --workers 2

The instance is made with the CLI (``init``, ``migrate``, ``user create alice``) in a temporary folder. Per
round, ``--creates`` Creates (1 KB, each mentioning alice, public, from ``--actors`` cached senders) are
inserted as the inbox stores them, then ``--workers`` ``Worker`` loops with the deployed handlers (in this
one process, each with its own engine, as separate ``fediserver worker`` processes would have) drain the
queue. The figure is Creates per second, next to a baseline measured in the same run: the same rows run
through a handler that only marks them done (the queue's own cost). Then a check that each was processed
exactly once. ``bench_inbox_deployed`` measures the same thing with real processes and HTTP; this one is
for profiling (``--profile`` writes cProfile statistics of the drains).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, exists, func, insert, select, text

import activitypub as ap
from bench.bench_inbox_deployed import Instance, make_instance, reset_postgres
from bench.loopback import HOST, free_port
from fediserver.config import load_config
from fediserver.db import engine_from_settings, session_factory
from fediserver.federation.context import Federation
from fediserver.federation.remote import store_actor
from fediserver.jobs.handlers import build_handlers
from fediserver.jobs.worker import Worker
from fediserver.models import InboundActivity, Note, Notification, utcnow
from fediserver.urls import Urls


def create(base: str, sender: str, tag: str, alice: str) -> dict[str, Any]:
    note = f"{sender}/notes/{tag}"
    audience = {"to": [ap.PUBLIC], "cc": [f"{sender}/followers", alice]}
    mention = [{"type": "Mention", "href": alice, "name": f"@alice@{base}"}]
    text_ = "<p><span class='h-card'><a href='" + alice + "'>@alice</a></span> " + "benchmark post " * 40 + "</p>"
    return {
        "@context": ap.AS_CONTEXT, "id": f"{note}/activity", "type": "Create", "actor": sender,
        "published": "2026-11-25T00:00:00Z", **audience,
        "object": {
            "id": note, "type": "Note", "attributedTo": sender, "content": text_,
            "published": "2026-11-25T00:00:00Z", "tag": mention, **audience,
        },
    }  # fmt: skip


class Baseline:
    """The queue's own cost: claim, load and finish each row, nothing else."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.name, self.model, self.backoff = "baseline", inbox.model, inbox.backoff
        self.batch_size, self.concurrency, self.max_attempts = inbox.batch_size, inbox.concurrency, inbox.max_attempts
        # Batched as the inbox is (one transaction for many jobs), else the baseline measures another path.
        self.batched: bool = getattr(inbox, "batched", False)

    def partition(self, job: Any) -> str | None:
        return str(self.inbox.partition(job))

    def give_up_at(self, job: Any) -> Any:
        return self.inbox.give_up_at(job)

    async def handle(self, session: Any, job: Any) -> None:
        return None


async def run_drain(instance: Instance, handlers_for: Any, workers: int, statements: list[str] | None = None) -> float:
    """Seconds until the queue is drained; the workers' SQL statements go to ``statements`` if given."""
    settings = load_config(instance.config, instance.env)
    runs = []
    engines = []
    for _ in range(workers):
        engine = engine_from_settings(settings)
        engines.append(engine)
        if statements is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", _recorder(statements))
        fed = Federation(settings=settings, urls=Urls.from_settings(settings), http=None)  # type: ignore[arg-type]
        worker = Worker(
            session_factory(engine),
            handlers_for(fed),
            lease=timedelta(minutes=5),
            poll_interval=settings.worker.poll_interval,
        )
        runs.append(worker)
    stop = asyncio.Event()
    start = time.perf_counter()
    tasks = [asyncio.create_task(w.run(stop)) for w in runs]
    sessions = session_factory(engines[0])
    # Whether any is left, not how many: a count read every row left, fifty times a second, beside the workers.
    unfinished = exists().where(InboundActivity.state.in_(("queued", "running")))
    while True:
        async with sessions() as session:
            left = await session.scalar(select(unfinished))
        if not left:
            break
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - start
    stop.set()
    await asyncio.gather(*tasks)
    for engine in engines:
        await engine.dispose()
    return seconds


def _recorder(statements: list[str]) -> Any:
    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    return record


async def seed(instance: Instance, round_: int, creates: int, actors: int, alice: str, port: int) -> None:
    settings = load_config(instance.config, instance.env)
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    senders = [f"http://{HOST}:{port + 1}/actors/s{i}" for i in range(actors)]
    async with sessions() as session:
        if round_ == 0:
            for uri in senders:
                doc = {"id": uri, "type": "Person", "preferredUsername": uri.rsplit("/", 1)[1], "inbox": uri + "/inbox",
                       "publicKey": {"id": uri + "#main-key", "owner": uri, "publicKeyPem": "unused"}}  # fmt: skip
                await store_actor(session, doc)
        due = utcnow() - timedelta(seconds=1)
        rows = []
        for i in range(creates):
            sender = senders[i % actors]
            body = create(f"{HOST}:{port}", sender, f"r{round_}-{i}", alice)
            rows.append({
                "activity_id": body["id"], "activity_type": "Create", "actor_uri": sender,
                "key_id": sender + "#main-key", "recipient_actor_id": None, "body": body, "state": "queued",
                "next_attempt_at": due,
            })  # fmt: skip
        await session.execute(insert(InboundActivity), rows)
        await session.commit()
    await engine.dispose()


async def reset_queue(instance: Instance, round_: int) -> None:
    """Queue this round's rows again (only these: earlier rounds' rows stay done, else each round would
    drain every earlier round's Creates as well and the rate would fall round by round)."""
    engine = engine_from_settings(load_config(instance.config, instance.env))
    async with session_factory(engine)() as session:
        await session.execute(
            text("UPDATE inbound_activities SET state = 'queued', attempts = 0 WHERE activity_id LIKE :mine"),
            {"mine": f"%/notes/r{round_}-%/activity"},
        )
        await session.commit()
    await engine.dispose()


async def counts(instance: Instance) -> dict[str, int]:
    engine = engine_from_settings(load_config(instance.config, instance.env))
    async with session_factory(engine)() as session:
        out = {
            f"{state}/attempts={attempts}": int(n)
            for state, attempts, n in await session.execute(
                select(InboundActivity.state, InboundActivity.attempts, func.count()).group_by(
                    InboundActivity.state, InboundActivity.attempts
                )
            )
        }
        out["notes"] = int(await session.scalar(select(func.count()).select_from(Note)) or 0)
        out["mentions"] = int(await session.scalar(select(func.count()).where(Notification.type == "mention")) or 0)
    await engine.dispose()
    return out


async def bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        port = free_port()
        if args.database_url:
            await reset_postgres(args.database_url)
        instance = await asyncio.to_thread(make_instance, Path(tmp), port, args.database_url)
        os.environ.update(instance.env)
        alice = f"http://{HOST}:{port}/users/alice"
        profile = cProfile.Profile() if args.profile else None
        base_rates, rates, per_create = [], [], []
        for rnd in range(args.rounds):
            await seed(instance, rnd, args.creates, args.actors, alice, port)
            # The baseline first on the new rows, then the same rows again (queued anew) for real.
            seconds = await run_drain(instance, lambda fed: [Baseline(build_handlers(fed)[0])], args.workers)
            base_rates.append(args.creates / seconds)
            await reset_queue(instance, rnd)
            if profile:
                profile.enable()
            statements: list[str] = []
            seconds = await run_drain(instance, build_handlers, args.workers, statements)
            per_create.append(len(statements) / args.creates)
            if profile:
                profile.disable()
            rates.append(args.creates / seconds)
            print(f"round {rnd + 1}: baseline {base_rates[-1]:,.0f}/s, inbox {rates[-1]:,.0f}/s", flush=True)
        summary = await counts(instance)
    if profile:
        profile.dump_stats(args.profile)
    layout = f"PostgreSQL, {args.workers} workers" if args.database_url else f"SQLite, {args.workers} worker(s)"
    rate, base = statistics.median(rates), statistics.median(base_rates)
    print(f"{layout}: {args.creates} Creates per round from {args.actors} actors, medians of {args.rounds} rounds")
    print(f"drain: {rate:,.0f} Creates/s; queue alone {base:,.0f}/s; ratio {rate / base:.2f}")
    print(
        f"SQL statements per Create (all the workers' statements, polls included): {statistics.median(per_create):.1f}"
    )
    print(f"exactly once: {args.rounds * args.creates} Creates; {summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--creates", type=int, default=2000, help="Creates queued per round")
    parser.add_argument("--actors", type=int, default=50, help="distinct senders")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="worker loops, each with its own engine")
    parser.add_argument("--database-url", help="PostgreSQL URL (its public schema is dropped!); default SQLite")
    parser.add_argument("--profile", help="write cProfile statistics of the inbox drains here")
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
