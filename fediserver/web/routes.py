"""The web UI's route table and its static files."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from fediserver.errors import NotFound
from fediserver.web import admin, compose, invites, moderation, pages, reports, signin
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


routes = [
    Route("/", pages.front, name="front"),
    Route("/static/{name}", static, name="static"),
    Route("/home", pages.home, name="home"),
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
    Route("/compose/jobs/{token}/cancel", compose.job_cancel, name="job_cancel", methods=["POST"]),
    Route("/compose/jobs/{token}/retry", compose.job_retry, name="job_retry", methods=["POST"]),
    Route("/compose/jobs/{token}/publish", compose.job_publish, name="job_publish", methods=["POST"]),
    Route("/posts/{note_id:int}/like", compose.like, name="like", methods=["POST"]),
    Route("/posts/{note_id:int}/delete", compose.delete, name="delete", methods=["POST"]),
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
