"""Every URL of this instance is built here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fediserver.config import Settings


@dataclass(frozen=True)
class Urls:
    """Builds this instance's URLs from its scheme and domain (``instance.scheme``, ``instance.domain``)."""

    scheme: str
    domain: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Urls:
        return cls(scheme=settings.instance.scheme, domain=settings.instance.domain)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.domain}"

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{quote(username)}"

    def actor_key(self, username: str) -> str:
        return f"{self.actor(username)}#main-key"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    def featured(self, username: str) -> str:
        return f"{self.actor(username)}/collections/featured"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{quote(username)}"

    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    def instance_actor_key(self) -> str:
        return f"{self.instance_actor()}#main-key"

    def note(self, note_key: str) -> str:
        return f"{self.base}/notes/{note_key}"

    def note_activity(self, note_key: str) -> str:
        return f"{self.note(note_key)}/activity"

    def note_replies(self, note_key: str) -> str:
        return f"{self.note(note_key)}/replies"

    def media(self, storage_key: str) -> str:
        return f"{self.base}/media/{storage_key}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name.lower())}"

    def follow_activity(self, token: str) -> str:
        """The id of a Follow we send; served to the follower's own token only (``c2s.activities``)."""
        return f"{self.base}/follows/{token}"

    def instance_collection(self, name: str) -> str:
        """The instance actor's (always empty) outbox, followers and following."""
        return f"{self.instance_actor()}/{name}"

    def generation(self, token: str) -> str:
        return f"{self.base}/api/v1/generations/{token}"

    def generation_events(self, token: str) -> str:
        return f"{self.generation(token)}/events"

    def assist_job(self, token: str) -> str:
        return f"{self.base}/api/v1/assist/{token}"

    def assist_events(self, token: str) -> str:
        return f"{self.assist_job(token)}/events"

    def handle(self, username: str) -> str:
        return f"@{username}@{self.domain}"

    # Mastodon client API and OAuth (H8).
    def api(self, path: str) -> str:
        """An API URL from its path (``/api/v1/…``, ``/oauth/…``), e.g. for ``Link`` headers and metadata."""
        return f"{self.base}{path}"

    @property
    def streaming(self) -> str:
        """The streaming base apps are told (``wss://host``, no path; clients.md §6)."""
        return f"{'wss' if self.scheme == 'https' else 'ws'}://{self.domain}"

    def static_placeholder(self, name: str) -> str:
        """Default avatar/header images: Tusky needs non-null URLs (clients.md row 7)."""
        return f"{self.base}/api/static/{name}"

    # ActivityPub client-to-server (H10).
    def upload_media(self, username: str) -> str:
        """``endpoints.uploadMedia`` of a user (SocialCG MediaUpload report)."""
        return f"{self.actor(username)}/uploadMedia"

    def proxy_url(self, username: str) -> str:
        """``endpoints.proxyUrl`` of a user: signed fetches on the user's behalf (ActivityPub §4.1)."""
        return f"{self.actor(username)}/proxy"

    def activity(self, username: str, kind: str, ref: int) -> str:
        """A Like, Announce or Block the user sent (``kind`` ``like``/``announce``/``block``), or an Update,
        Delete, Add or Remove of a post (``update``/``delete``/``add``/``remove``, ``domain.sent``), served
        to its owner (and, when public, to anyone) so the outbox's ``Location`` resolves (ActivityPub §6)."""
        return f"{self.actor(username)}/activities/{kind}/{ref}"

    def undo(self, activity_id: str) -> str:
        """The Undo of one of our activities, served once the activity is undone."""
        return f"{activity_id}/undo"

    def media_object(self, username: str, storage_key: str) -> str:
        """The AS2 ``Image`` of an upload (``uploadMedia``'s ``Location``); the file itself is ``media``."""
        return f"{self.actor(username)}/media/{storage_key}"

    # Moderation and invites (H8).
    def flag(self, token: str) -> str:
        """The id of a ``Flag`` the instance actor sends for a member's report (Mastodon: a random URI)."""
        return f"{self.base}/flags/{token}"

    def invite(self, code: str) -> str:
        """The sign-up link of an invite."""
        return f"{self.base}/invite/{code}"
