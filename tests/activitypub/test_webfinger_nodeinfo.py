"""WebFinger parsing, JRD building and lookup with one subject hop; NodeInfo documents."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from activitypub.errors import UnsafeURLError, WebFingerError
from activitypub.guard import OutboundGuard
from activitypub.nodeinfo import (
    APPLICATION_ACTOR_REL,
    SCHEMAS,
    nodeinfo_content_type,
    nodeinfo_document,
    well_known_nodeinfo,
)
from activitypub.webfinger import Acct, build_jrd, format_acct, lookup, parse_acct, self_link

ALICE = "https://social.example/users/alice"


@pytest.mark.parametrize("text", ["acct:alice@social.example", "@alice@social.example", "alice@Social.Example"])
def test_parse_acct__accepts_common_forms(text: str) -> None:
    acct = parse_acct(text)
    assert acct == Acct("alice", "social.example")
    assert format_acct(acct) == "acct:alice@social.example"


@pytest.mark.parametrize("text", ["alice", "acct:@social.example", "alice@", "a@b@c/d", "al ice@x.example"])
def test_parse_acct__rejects_malformed(text: str) -> None:
    with pytest.raises(WebFingerError):
        parse_acct(text)


def test_build_jrd__one_self_link_equal_to_actor_id() -> None:
    jrd = build_jrd(Acct("alice", "social.example"), ALICE, profile_url="https://social.example/@alice")
    assert jrd["subject"] == "acct:alice@social.example"
    selfs = [link for link in jrd["links"] if link["rel"] == "self"]
    assert selfs == [{"rel": "self", "type": "application/activity+json", "href": ALICE}]
    assert self_link(jrd) == ALICE


def test_self_link__two_self_links_are_ambiguous() -> None:
    jrd = build_jrd(Acct("alice", "social.example"), ALICE)
    jrd["links"].append({"rel": "self", "type": "application/activity+json", "href": ALICE + "2"})
    with pytest.raises(WebFingerError, match="2 ActivityStreams self links"):
        self_link(jrd)


def _server(jrds: dict[str, Any]) -> tuple[httpx.AsyncClient, list[str]]:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        resource = request.url.params["resource"]
        asked.append(resource)
        assert request.url.path == "/.well-known/webfinger"
        if resource not in jrds:
            return httpx.Response(404)
        value = jrds[resource]
        if isinstance(value, int):
            return httpx.Response(value)
        return httpx.Response(200, content=json.dumps(value).encode(), headers={"content-type": "application/jrd+json"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), asked


async def _public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


GUARD = OutboundGuard(resolver=_public)


async def test_lookup__direct() -> None:
    http, asked = _server({"acct:alice@social.example": build_jrd(Acct("alice", "social.example"), ALICE)})
    result = await lookup(http, "@alice@social.example", guard=GUARD)
    assert result.actor_id == ALICE
    assert asked == ["acct:alice@social.example"]


async def test_lookup__one_subject_hop_allowed() -> None:
    canonical = build_jrd(Acct("alice", "social.example"), ALICE)
    http, asked = _server({"acct:alice@example.com": canonical, "acct:alice@social.example": canonical})
    result = await lookup(http, "alice@example.com", guard=GUARD)
    assert result.subject == Acct("alice", "social.example")
    assert asked == ["acct:alice@example.com", "acct:alice@social.example"]


async def test_lookup__second_hop_refused() -> None:
    http, _ = _server(
        {
            "acct:a@one.example": build_jrd(Acct("a", "two.example"), ALICE),
            "acct:a@two.example": build_jrd(Acct("a", "three.example"), ALICE),
        }
    )
    with pytest.raises(WebFingerError, match="Too many webfinger redirects"):
        await lookup(http, "a@one.example", guard=GUARD)


@pytest.mark.parametrize(("status", "reason"), [(404, "404"), (410, "gone")])
async def test_lookup__status_errors(status: int, reason: str) -> None:
    http, _ = _server({"acct:a@one.example": status})
    with pytest.raises(WebFingerError, match=reason):
        await lookup(http, "a@one.example", guard=GUARD)


async def test_lookup__missing_subject_rejected() -> None:
    http, _ = _server({"acct:a@one.example": {"links": []}})
    with pytest.raises(WebFingerError, match="no subject"):
        await lookup(http, "a@one.example", guard=GUARD)


def test_well_known_nodeinfo__links_both_versions_and_application_actor() -> None:
    jrd = well_known_nodeinfo("https://social.example/", application_actor="https://social.example/actor")
    rels = {link["rel"]: link["href"] for link in jrd["links"]}
    assert rels[SCHEMAS["2.1"]] == "https://social.example/nodeinfo/2.1"
    assert rels[SCHEMAS["2.0"]] == "https://social.example/nodeinfo/2.0"
    assert rels[APPLICATION_ACTOR_REL] == "https://social.example/actor"


NODEINFO_21_TOP = {"version", "software", "protocols", "services", "openRegistrations", "usage", "metadata"}


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_nodeinfo_document__schema_shape(version: str) -> None:
    doc = nodeinfo_document(
        version,
        software_name="fediserver",
        software_version="0.1.0",
        open_registrations=False,
        users_total=3,
        users_active_month=2,
        users_active_halfyear=3,
        local_posts=10,
        repository="https://git.example/fediserver",
    )
    assert set(doc) == NODEINFO_21_TOP
    assert doc["version"] == version
    assert doc["protocols"] == ["activitypub"]
    assert doc["usage"]["users"] == {"total": 3, "activeMonth": 2, "activeHalfyear": 3}
    assert ("repository" in doc["software"]) is (version == "2.1")
    assert nodeinfo_content_type(version) == f'application/json; profile="{SCHEMAS[version]}#"'


@pytest.mark.parametrize(("version", "name"), [("2.1", "FediServer"), ("2.1", "fedi server"), ("3.0", "x")])
def test_nodeinfo_document__rejects_bad_name_or_version(version: str, name: str) -> None:
    with pytest.raises(ValueError, match="NodeInfo"):
        nodeinfo_document(
            version,
            software_name=name,
            software_version="1",
            open_registrations=True,
            users_total=0,
            users_active_month=0,
            users_active_halfyear=0,
        )


async def test_lookup__follows_redirect_through_guard() -> None:
    jrd = build_jrd(Acct("alice", "social.example"), ALICE)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "social.example":
            target = f"https://wf.social.example/.well-known/webfinger?{request.url.query.decode()}"
            return httpx.Response(301, headers={"location": target})
        return httpx.Response(200, content=json.dumps(jrd).encode())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    assert (await lookup(http, "alice@social.example", guard=GUARD)).actor_id == ALICE

    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.1"] if host.startswith("wf.") else ["93.184.216.34"]

    with pytest.raises(UnsafeURLError):
        await lookup(http, "alice@social.example", guard=OutboundGuard(resolver=private))
