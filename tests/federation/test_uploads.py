"""An uploaded photo as the fediverse fetches it: the served bytes carry no personal metadata."""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from fediserver.domain.posts import PostDraft, publish_post
from fediserver.media import MediaLimits, ingest_upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fediserver"))
from test_media import (  # type: ignore[import-not-found, unused-ignore]
    ICC,
    assert_no_personal_metadata,
    jpeg_with_metadata,
)

Factory = Callable[..., Awaitable[Any]]
AS2 = {"Accept": "application/activity+json"}


async def test_uploaded_jpeg__served_without_gps_camera_or_xmp(instances: Factory) -> None:
    a = await instances("a", ["alice"])
    original = jpeg_with_metadata(orientation=6)
    async with a.sessions() as session:
        image = ingest_upload(a.app.state.media, original, MediaLimits.from_settings(a.settings.media))
        draft = PostDraft(text="holiday", image=image, alt="sea")
        note = await publish_post(a.app.state.services, session, await a.user(session, "alice"), draft)
        await session.commit()
    async with httpx.AsyncClient() as http:
        document = (await http.get(note.uri, headers=AS2)).json()
        [attachment] = document["attachment"]
        served = await http.get(attachment["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content != original
    assert_no_personal_metadata(served.content)
    with Image.open(io.BytesIO(served.content)) as stored:
        assert stored.size == (20, 40)
        assert stored.info.get("icc_profile") == ICC
    assert (attachment["width"], attachment["height"]) == (20, 40)
    assert isinstance(attachment["blurhash"], str)
    assert len(attachment["blurhash"]) == 28
