"""NodeInfo 2.0 and 2.1 documents and the `/.well-known/nodeinfo` JRD (`jhass/nodeinfo` PROTOCOL.md).

FEP-f1d5 recommends NodeInfo; FEP-2677 advertises the application actor in the same JRD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMAS = {
    "2.0": "http://nodeinfo.diaspora.software/ns/schema/2.0",
    "2.1": "http://nodeinfo.diaspora.software/ns/schema/2.1",
}
APPLICATION_ACTOR_REL = "https://www.w3.org/ns/activitystreams#Application"
_SOFTWARE_NAME = re.compile(r"^[a-z0-9-]+$")


def nodeinfo_content_type(version: str) -> str:
    """`application/json; profile="…schema/2.1#"`, the Content-Type NodeInfo documents are served with."""
    return f'application/json; profile="{SCHEMAS[version]}#"'


def well_known_nodeinfo(base_url: str, *, application_actor: str | None = None) -> dict[str, Any]:
    """The `/.well-known/nodeinfo` JRD linking `{base_url}/nodeinfo/2.1` and `/2.0` (checklist 6, 42)."""
    base = base_url.rstrip("/")
    links = [{"rel": SCHEMAS[v], "href": f"{base}/nodeinfo/{v}"} for v in ("2.1", "2.0")]
    if application_actor:
        links.append({"rel": APPLICATION_ACTOR_REL, "href": application_actor})
    return {"links": links}


def nodeinfo_document(
    version: str,
    *,
    software_name: str,
    software_version: str,
    open_registrations: bool,
    users_total: int,
    users_active_month: int,
    users_active_halfyear: int,
    local_posts: int | None = None,
    repository: str | None = None,
    homepage: str | None = None,
    protocols: Sequence[str] = ("activitypub",),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A NodeInfo 2.0 or 2.1 document with only schema-allowed keys.

    `software.name` must match `^[a-z0-9-]+$`; `repository`/`homepage` exist only in 2.1 and are
    ignored for 2.0. Raises `ValueError` on an unknown version or a bad name.
    """
    if version not in SCHEMAS:
        raise ValueError(f"unsupported NodeInfo version {version!r}")
    if not _SOFTWARE_NAME.match(software_name):
        raise ValueError(f"NodeInfo software.name must match ^[a-z0-9-]+$: {software_name!r}")
    if not protocols:
        raise ValueError("NodeInfo needs at least one protocol")
    software: dict[str, Any] = {"name": software_name, "version": software_version}
    if version == "2.1":
        software.update({k: v for k, v in (("repository", repository), ("homepage", homepage)) if v})
    usage: dict[str, Any] = {
        "users": {
            "total": users_total,
            "activeMonth": users_active_month,
            "activeHalfyear": users_active_halfyear,
        }
    }
    if local_posts is not None:
        usage["localPosts"] = local_posts
    return {
        "version": version,
        "software": software,
        "protocols": list(protocols),
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": usage,
        "metadata": dict(metadata or {}),
    }
