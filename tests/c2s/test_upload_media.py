"""``endpoints.uploadMedia`` (SocialCG MediaUpload report, c2s.md §2.1): multipart ``file`` + ``object``,
201 with ``Location`` and the Image; the image is then attached by a Create through the outbox."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from tests.c2s.conftest import PUBLIC, ClientFor


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(out, "PNG")
    return out.getvalue()


async def test_upload_media__201_with_location_then_attached_by_create(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    endpoint = (await alice.actor_doc())["endpoints"]["uploadMedia"]
    shell = json.dumps({"type": "Image", "name": "an orange rectangle"})
    answer = await alice.http.post(
        endpoint, headers=alice.auth, files={"file": ("o.png", png(), "image/png")}, data={"object": shell}
    )
    assert answer.status_code == 201, answer.text
    image = answer.json()
    assert answer.headers["Location"] == image["id"]
    assert image["type"] == "Image"
    assert image["name"] == "an orange rectangle"
    assert (image["width"], image["height"]) == (40, 30)
    assert (await alice.http.get(image["url"])).status_code == 200
    created = await alice.post({"type": "Note", "content": "look", "to": [PUBLIC], "attachment": [image]})
    assert created.status_code == 201, created.text
    note = (await alice.get(created.headers["Location"])).json()["object"]
    assert [m["name"] for m in note["attachment"]] == ["an orange rectangle"]
    # attached once: a second Create naming it is refused
    again = await alice.post({"type": "Note", "content": "again", "to": [PUBLIC], "attachment": [image["id"]]})
    assert again.status_code == 400


async def test_upload_media__refusals(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"], media={"max_upload_bytes": 100_000})
    alice = await client_for(a, "alice")
    endpoint = (await alice.actor_doc())["endpoints"]["uploadMedia"]
    files = {"file": ("o.png", png(), "image/png")}
    assert (await alice.http.post(endpoint, files=files)).status_code == 401
    reader = await client_for(a, "alice", "read")
    assert (await alice.http.post(endpoint, headers=reader.auth, files=files)).status_code == 403
    carol = await client_for(a, "carol")
    assert (await alice.http.post(endpoint, headers=carol.auth, files=files)).status_code == 403
    not_image = {"file": ("x.png", b"not an image at all", "image/png")}
    assert (await alice.http.post(endpoint, headers=alice.auth, files=not_image)).status_code == 400
    bad_shell = await alice.http.post(endpoint, headers=alice.auth, files=files, data={"object": "{"})
    assert bad_shell.status_code == 400
    big = {"file": ("b.png", b"\0" * 200_000, "image/png")}
    assert (await alice.http.post(endpoint, headers=alice.auth, files=big)).status_code == 413
    assert (await alice.http.post(endpoint, headers=alice.auth, files=files)).status_code == 201
