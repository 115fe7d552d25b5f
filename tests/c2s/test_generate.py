"""AI images over C2S (FEDERATION.md "Client to server"): a Note with an url-less Image carrying
``generation`` parameters → 201 at once, a queued job that will publish the post, Location says pending.
The render itself needs the GPU worker, which is not part of this test (tests/generation covers it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediserver.models import GenerationJob, Note
from tests.c2s.conftest import PUBLIC, ClientFor


def _ask(generation: Any, **note: Any) -> dict[str, Any]:
    image = {"type": "Image", "generation": generation}
    return {"type": "Note", "content": "a lighthouse", "to": [PUBLIC], "attachment": [image], **note}


async def test_generated_image_post_is_queued_and_pending(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    answer = await alice.post(_ask({"prompt": "a lighthouse at dusk", "seed": 7}))
    assert answer.status_code == 201, answer.text
    status = await alice.http.get(answer.headers["Location"], headers=alice.auth)
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "queued"
    assert status.json()["parameters"]["seed"] == 7
    async with a.sessions() as session:
        job = await session.scalar(select(GenerationJob))
        assert job is not None
        assert (job.prompt, job.seed, job.post_text, job.post_visibility) == (
            "a lighthouse at dusk",
            7,
            "a lighthouse",
            "public",
        )
        # nothing is published before the image exists
        assert await session.scalar(select(Note)) is None


async def test_generated_image_post_refusals(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    cases = [
        _ask({"seed": 7}),  # no prompt
        _ask({"prompt": "x", "seed": "seven"}),
        _ask("not an object"),
        _ask({"prompt": "x"}, summary="cw"),
        {**_ask({"prompt": "x"}), "attachment": [{"type": "Image", "generation": {"prompt": "x"}}, {"url": "y"}]},
    ]
    for body in cases:
        answer = await alice.post(body)
        assert answer.status_code == 400, (body, answer.text)
    async with a.sessions() as session:
        assert await session.scalar(select(GenerationJob)) is None
