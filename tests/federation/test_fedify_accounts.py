"""Profile changes and account deletion reach a Fedify 2.3.6 peer (an independent implementation),
signed by us and verified there (checklist 2, 51)."""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from fediserver.domain import accounts as account_cases
from fediserver.domain import profiles
from fediserver.domain.services import Services
from fediserver.models import Follow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FedifyPeer  # type: ignore[import-not-found, unused-ignore]

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 90, 200)).save(out, "PNG")
    return out.getvalue()


async def test_fedify__receives_the_profile_update_then_the_account_deletion(
    installed: None, instances: Factory, wait: Callable[..., Awaitable[Any]]
) -> None:
    a = await instances("a", ["alice"])
    alice = a.actor_url("alice")
    svc: Services = a.app.state.services
    async with FedifyPeer() as peer:
        await peer.afollow(alice)

        async def followed() -> bool:
            async with a.sessions() as session:
                state: str | None = await session.scalar(
                    select(Follow.state).where(Follow.follower_uri == peer.actor_url, Follow.followed_uri == alice)
                )
            return state == "accepted"

        await wait(followed)
        await peer.await_for(lambda act: act["type"] == "Accept")

        change = profiles.ProfileChange(display_name="Alice Fed", avatar=_png(), fields=[("Pronouns", "she/her")])
        async with a.sessions() as session:
            await profiles.update_profile(svc, session, await a.user(session, "alice"), change)
            await session.commit()
        a.wake()
        update = await peer.await_for(lambda act: act["type"] == "Update")
        assert update["actor"] == alice
        assert update["object_id"] == alice
        assert update["verified_by"] == "http-signature"
        person = update["raw"]["object"]
        assert person["name"] == "Alice Fed"
        assert person["icon"]["mediaType"] == "image/png"
        assert person["attachment"] == [{"type": "PropertyValue", "name": "Pronouns", "value": "she/her"}]
        # Fedify reads the document back from our server and parses fields and icon (checklist 10).
        looked_up = await peer.alookup(alice)
        assert looked_up["name"] == "Alice Fed"
        assert looked_up["attachment"] == {"type": "PropertyValue", "name": "Pronouns", "value": "she/her"}
        assert looked_up["icon"]["mediaType"] == "image/png"

        async with a.sessions() as session:
            await account_cases.delete_account(svc, session, await a.user(session, "alice"))
            await session.commit()
        a.wake()
        delete = await peer.await_for(lambda act: act["type"] == "Delete")
        assert delete["actor"] == alice
        assert delete["object_id"] == alice
        assert delete["verified_by"] == "http-signature"
        async with httpx.AsyncClient() as http:
            assert (await http.get(alice, headers={"Accept": "application/activity+json"})).status_code == 410
