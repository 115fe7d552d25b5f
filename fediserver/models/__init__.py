"""Database models. Importing this package registers every table on ``Base.metadata``."""

from fediserver.models.actors import LocalActor, RemoteActor, User
from fediserver.models.base import Base, QueueMixin, UTCDateTime, utcnow
from fediserver.models.moderation import ActorBlock, DomainBlock, Report
from fediserver.models.oauth import OAuthApplication, OAuthAuthorizationCode, OAuthToken, StatusIdempotencyKey
from fediserver.models.queues import JOB_STATES, DeliveryJob, GenerationJob, InboundActivity
from fediserver.models.sessions import WebSession
from fediserver.models.social import VISIBILITIES, Announce, Follow, Like, MediaAttachment, Note

__all__ = [
    "JOB_STATES",
    "VISIBILITIES",
    "ActorBlock",
    "Announce",
    "Base",
    "DeliveryJob",
    "DomainBlock",
    "Follow",
    "GenerationJob",
    "InboundActivity",
    "Like",
    "LocalActor",
    "MediaAttachment",
    "Note",
    "OAuthApplication",
    "OAuthAuthorizationCode",
    "OAuthToken",
    "QueueMixin",
    "RemoteActor",
    "Report",
    "StatusIdempotencyKey",
    "UTCDateTime",
    "User",
    "WebSession",
    "utcnow",
]
