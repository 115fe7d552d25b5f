"""Database models. Importing this package registers every table on ``Base.metadata``."""

from fediserver.models.actors import ROLES, LocalActor, RemoteActor, User
from fediserver.models.assist import AssistJob
from fediserver.models.base import Base, QueueMixin, UTCDateTime, utcnow
from fediserver.models.c2s import OutboxIdempotencyKey, SentActivity
from fediserver.models.content import NOTIFICATION_TYPES, AccountHandle, NoteEdit, NoteTag, Notification, Tag
from fediserver.models.moderation import ActorBlock, DomainBlock, InstanceSetting, Invite, Report
from fediserver.models.oauth import OAuthApplication, OAuthAuthorizationCode, OAuthToken, StatusIdempotencyKey
from fediserver.models.personal import Bookmark, ConversationState, Mute
from fediserver.models.profiles import Pin
from fediserver.models.queues import (
    GENERATION_PURPOSES,
    JOB_STATES,
    DeliveryJob,
    GenerationJob,
    InboundActivity,
    LinkCheck,
)
from fediserver.models.sessions import WebSession
from fediserver.models.social import VISIBILITIES, Announce, Follow, Like, MediaAttachment, Note
from fediserver.models.stats import AccountStat
from fediserver.models.streams import StreamEventRow

__all__ = [
    "GENERATION_PURPOSES",
    "JOB_STATES",
    "VISIBILITIES",
    "ActorBlock",
    "Announce",
    "AssistJob",
    "Base",
    "Bookmark",
    "ConversationState",
    "DeliveryJob",
    "DomainBlock",
    "Follow",
    "GenerationJob",
    "InboundActivity",
    "Like",
    "LinkCheck",
    "LocalActor",
    "MediaAttachment",
    "Mute",
    "Note",
    "OAuthApplication",
    "OAuthAuthorizationCode",
    "OAuthToken",
    "OutboxIdempotencyKey",
    "Pin",
    "QueueMixin",
    "RemoteActor",
    "Report",
    "SentActivity",
    "StatusIdempotencyKey",
    "StreamEventRow",
    "UTCDateTime",
    "User",
    "WebSession",
    "utcnow",
]
__all__ += ["AccountStat"]
__all__ += ["NOTIFICATION_TYPES", "AccountHandle", "NoteEdit", "NoteTag", "Notification", "Tag"]
__all__ += ["ROLES", "InstanceSetting", "Invite"]
