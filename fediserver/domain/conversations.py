"""Direct-message threads of a local user (Mastodon's ``AccountConversation``, MD:/methods/conversations/).

A conversation is a thread of direct posts the user wrote or is addressed by, grouped under the
thread's root: the topmost of those posts above them (Mastodon groups by its ``conversation_id``,
which is likewise the thread). Membership is read from the notes, so local and federated direct posts
count alike without a hook on every path that stores one; what the user did with a thread (read it,
removed it) is a ``ConversationState``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.errors import NotFound
from fediserver.models import ConversationState, LocalActor, Note, utcnow
from fediserver.urls import Urls

# The newest direct posts considered: older threads drop off the list (a bound on the work per request).
MAX_DIRECT_NOTES = 2000
MAX_THREAD_DEPTH = 200


@dataclass(frozen=True)
class Conversation:
    root: Note
    notes: list[Note]  # newest first
    participants: list[str]  # actor URIs other than the user, in order of appearance
    unread: bool

    @property
    def last(self) -> Note:
        return self.notes[0]


def _addressed(uri: str) -> object:
    # ``to``/``cc`` are JSON arrays of strings: the quoted URI appears in their text on SQLite and PostgreSQL.
    quoted = f'"{uri}"'
    return or_(
        cast(Note.to, Text).contains(quoted, autoescape=True), cast(Note.cc, Text).contains(quoted, autoescape=True)
    )


async def _direct_notes(session: AsyncSession, me_uri: str) -> list[Note]:
    query = (
        select(Note)
        .where(
            Note.visibility == "direct",
            Note.deleted_at.is_(None),
            or_(Note.attributed_to == me_uri, _addressed(me_uri)),  # type: ignore[arg-type]
        )
        .order_by(Note.published_at.desc(), Note.id.desc())
        .limit(MAX_DIRECT_NOTES)
    )
    return list(await session.scalars(query))


def _root(note: Note, known: dict[str, Note], roots: dict[str, Note]) -> Note:
    """The topmost post above ``note`` among the user's direct posts (``note`` itself if it replies to
    none of them). Only those count, so a conversation is never named after a post the user may not see."""
    path = [note]
    current = note
    for _ in range(MAX_THREAD_DEPTH):
        if current.uri in roots:
            break
        parent = known.get(current.in_reply_to_uri or "")
        if parent is None or parent in path:
            break
        path.append(parent)
        current = parent
    root = roots.get(current.uri, current)
    for step in path:
        roots[step.uri] = root
    return root


def _participants(notes: list[Note], me_uri: str) -> list[str]:
    """Authors and addressees, oldest post first; a direct post addresses only accounts."""
    found: list[str] = []
    for note in reversed(notes):
        for uri in [note.attributed_to, *note.to, *note.cc]:
            if uri != me_uri and not ap.is_public(uri) and uri not in found:
                found.append(uri)
    return found


async def conversations(session: AsyncSession, urls: Urls, me: LocalActor) -> list[Conversation]:
    """The user's conversations not removed, newest last post first."""
    me_uri = urls.actor(me.username)
    notes = await _direct_notes(session, me_uri)
    known = {n.uri: n for n in notes}
    roots: dict[str, Note] = {}
    threads: dict[int, list[Note]] = {}
    root_notes: dict[int, Note] = {}
    for note in notes:
        root = _root(note, known, roots)
        threads.setdefault(root.id, []).append(note)
        root_notes[root.id] = root
    states = {
        s.root_note_id: s
        for s in await session.scalars(
            select(ConversationState).where(
                ConversationState.local_actor_id == me.id, ConversationState.root_note_id.in_(list(threads))
            )
        )
    }
    out: list[Conversation] = []
    for root_id, thread in threads.items():
        newest = max(n.id for n in thread)
        state = states.get(root_id)
        if state is not None and state.removed_through is not None and newest <= state.removed_through:
            continue
        read_through = state.read_through if state is not None and state.read_through is not None else 0
        last_from_other = max((n.id for n in thread if n.attributed_to != me_uri), default=0)
        out.append(
            Conversation(
                root=root_notes[root_id],
                notes=thread,
                participants=_participants(thread, me_uri),
                unread=last_from_other > read_through,
            )
        )
    out.sort(key=lambda c: (c.last.published_at, c.last.id), reverse=True)
    return out


async def _find(session: AsyncSession, urls: Urls, me: LocalActor, root_id: int) -> Conversation:
    for conversation in await conversations(session, urls, me):
        if conversation.root.id == root_id:
            return conversation
    raise NotFound("no such conversation")


async def _state(session: AsyncSession, me: LocalActor, root_id: int) -> ConversationState:
    state = await session.scalar(
        select(ConversationState).where(
            ConversationState.local_actor_id == me.id, ConversationState.root_note_id == root_id
        )
    )
    if state is None:
        state = ConversationState(local_actor_id=me.id, root_note_id=root_id)
        session.add(state)
    return state


async def mark_read(session: AsyncSession, urls: Urls, me: LocalActor, root_id: int) -> Conversation:
    """Mark the conversation read up to its newest post; the caller commits."""
    found = await _find(session, urls, me, root_id)
    state = await _state(session, me, root_id)
    state.read_through = max(n.id for n in found.notes)
    state.updated_at = utcnow()
    await session.flush()
    return Conversation(found.root, found.notes, found.participants, unread=False)


async def remove(session: AsyncSession, urls: Urls, me: LocalActor, root_id: int) -> None:
    """Take the conversation off the user's list until a new post arrives in it; the caller commits."""
    found = await _find(session, urls, me, root_id)
    state = await _state(session, me, root_id)
    state.removed_through = max(n.id for n in found.notes)
    state.updated_at = utcnow()
    await session.flush()
