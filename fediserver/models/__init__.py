"""Database models. Importing this package registers every table on ``Base.metadata``."""

from fediserver.models.actors import ROLES, LocalActor, RemoteActor, User
from fediserver.models.assist import AssistJob
from fediserver.models.base import Base, QueueMixin, UTCDateTime, utcnow
from fediserver.models.content import NOTIFICATION_TYPES, AccountHandle, NoteEdit, NoteTag, Notification, Tag
from fediserver.models.moderation import ActorBlock, DomainBlock, InstanceSetting, Invite, Report
from fediserver.models.oauth import OAuthApplication, OAuthAuthorizationCode, OAuthToken, StatusIdempotencyKey
from fediserver.models.personal import Bookmark, Mute
from fediserver.models.profiles import Pin
from fediserver.models.queues import GENERATION_PURPOSES, JOB_STATES, DeliveryJob, GenerationJob, InboundActivity
from fediserver.models.sessions import WebSession
from fediserver.models.social import VISIBILITIES, Announce, Follow, Like, MediaAttachment, Note

__all__ = [
    "GENERATION_PURPOSES",
    "JOB_STATES",
    "VISIBILITIES",
    "ActorBlock",
    "Announce",
    "AssistJob",
    "Base",
    "Bookmark",
    "DeliveryJob",
    "DomainBlock",
    "Follow",
    "GenerationJob",
    "InboundActivity",
    "Like",
    "LocalActor",
    "MediaAttachment",
    "Mute",
    "Note",
    "OAuthApplication",
    "OAuthAuthorizationCode",
    "OAuthToken",
    "Pin",
    "QueueMixin",
    "RemoteActor",
    "Report",
    "StatusIdempotencyKey",
    "UTCDateTime",
    "User",
    "WebSession",
    "utcnow",
]
__all__ += ["NOTIFICATION_TYPES", "AccountHandle", "NoteEdit", "NoteTag", "Notification", "Tag"]
__all__ += ["ROLES", "InstanceSetting", "Invite"]
