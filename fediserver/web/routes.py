"""The web UI's route table and its static files."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from fediserver.errors import NotFound
from fediserver.web import (
    admin,
    batch,
    compose,
    invites,
    live,
    moderation,
    pages,
    people,
    posting,
    reports,
    settings,
    signin,
)
from fediserver.web.context import web

IMMUTABLE = "public, max-age=31536000, immutable"


async def static(request: Request) -> Response:
    """Only the current hashed names are served; an old hash is a 404, never stale content."""
    asset = web(request).assets.files.get(request.path_params["name"])
    if asset is None:
        raise NotFound("no such file")
    return FileResponse(
        asset.path,
        media_type=asset.media_type,
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


# Route names are distinct from the Mastodon API's (``home``, ``search``: Starlette names a route after its
# endpoint, and ``url_path_for`` returns the first match, which was ``/api/v1/timelines/home``).
routes = [
    Route("/", pages.front, name="front"),
    Route("/static/{name}", static, name="static"),
    Route("/home", pages.home, name="home_feed"),
    Route("/local", pages.local, name="local"),
    Route("/federated", pages.federated, name="federated"),
    Route("/tags/{tag}", pages.tag, name="tag"),
    Route("/@{username}", pages.profile, name="profile"),
    Route("/login", signin.login_form, name="login", methods=["GET"]),
    Route("/login", signin.login, methods=["POST"]),
    Route("/logout", signin.logout, name="logout", methods=["POST"]),
    Route("/signup", signin.signup_form, name="signup", methods=["GET"]),
    Route("/signup", signin.signup, methods=["POST"]),
    Route("/compose", compose.compose, name="compose"),
    Route("/compose/post", compose.compose_post, name="compose_post", methods=["POST"]),
    Route("/compose/generate", compose.compose_generate, name="compose_generate", methods=["POST"]),
    Route("/compose/jobs/{token}", compose.job, name="job"),
    Route("/compose/batch", batch.batch, name="batch"),
    Route("/compose/jobs/{token}/cancel", compose.job_cancel, name="job_cancel", methods=["POST"]),
    Route("/compose/jobs/{token}/retry", compose.job_retry, name="job_retry", methods=["POST"]),
    Route("/compose/jobs/{token}/publish", compose.job_publish, name="job_publish", methods=["POST"]),
    Route("/posts/{note_id:int}/like", compose.like, name="like", methods=["POST"]),
    Route("/posts/{note_id:int}/delete", compose.delete, name="delete", methods=["POST"]),
    Route("/posts/{note_id:int}/reply", posting.reply, name="reply", methods=["POST"]),
    Route("/posts/{note_id:int}/boost", posting.boost, name="boost", methods=["POST"]),
    Route("/posts/{note_id:int}/unboost", posting.unboost, name="unboost", methods=["POST"]),
    Route("/posts/{note_id:int}/bookmark", posting.bookmark, name="bookmark", methods=["POST"]),
    Route("/posts/{note_id:int}/unbookmark", posting.unbookmark, name="unbookmark", methods=["POST"]),
    Route("/posts/{note_id:int}/edit", posting.edit_form, name="edit", methods=["GET"]),
    Route("/posts/{note_id:int}/edit", posting.edit, methods=["POST"]),
    Route("/bookmarks", posting.bookmarks_page, name="bookmarks"),
    Route("/notifications", people.notifications_page, name="notifications"),
    Route("/notifications/read", people.notifications_read, name="notifications_read", methods=["POST"]),
    Route("/notifications/stream", live.notifications_stream, name="notifications_stream"),
    Route("/search", people.search_page, name="web_search"),
    Route("/settings", settings.settings_form, name="settings", methods=["GET"]),
    Route("/settings", settings.settings_save, methods=["POST"]),
    Route("/settings/requests", settings.follow_request, name="settings_request", methods=["POST"]),
    Route("/settings/generate", settings.generate_image, name="settings_generate", methods=["POST"]),
    Route("/compose/jobs/{token}/profile", settings.use_generated, name="job_profile", methods=["POST"]),
    Route("/follow", compose.follow_form, name="follow", methods=["GET"]),
    Route("/follow", compose.follow, methods=["POST"]),
    Route("/admin", admin.dashboard, name="admin"),
    Route("/admin/registrations/{user_id:int}", admin.registration, name="admin_registration", methods=["POST"]),
    Route("/admin/reports/{report_id:int}", admin.report, name="admin_report", methods=["POST"]),
    Route("/admin/domains/block", admin.block, name="admin_block", methods=["POST"]),
    Route("/admin/domains/unblock", admin.unblock, name="admin_unblock", methods=["POST"]),
    # Moderation, invites, reports, settings (H8).
    Route("/admin/users", moderation.users, name="admin_users"),
    Route("/admin/users/{user_id:int}/role", moderation.role, name="admin_role", methods=["POST"]),
    Route("/admin/users/{user_id:int}/{action}", moderation.act, name="admin_user_action", methods=["POST"]),
    Route("/admin/settings", moderation.settings_form, name="admin_settings", methods=["GET"]),
    Route("/admin/settings", moderation.settings_save, methods=["POST"]),
    Route("/invites", invites.listing, name="invites", methods=["GET"]),
    Route("/invites", invites.create, methods=["POST"]),
    Route("/invites/{invite_id:int}/revoke", invites.revoke, name="invite_revoke", methods=["POST"]),
    Route("/invite/{code}", signin.invite_form, name="invite", methods=["GET"]),
    Route("/invite/{code}", signin.invite_signup, methods=["POST"]),
    Route("/posts/{note_id:int}/report", reports.report_form, name="report", methods=["GET"]),
    Route("/posts/{note_id:int}/report", reports.report, methods=["POST"]),
]
