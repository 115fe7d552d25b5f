"""Every string the web UI shows, in one table so it can be translated later.

Templates read them as ``t.key``; Python code as ``STRINGS["key"]``. Placeholders use ``str.format``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

STRINGS: Mapping[str, str] = MappingProxyType(
    {
        "skip_to_content": "Skip to content",
        "nav_main": "Main",
        "nav_home": "Home",
        "nav_local": "Local",
        "nav_federated": "Federated",
        "nav_compose": "Create",
        "nav_follow": "Follow someone",
        "nav_admin": "Moderation",
        "nav_login": "Log in",
        "nav_signup": "Sign up",
        "nav_logout": "Log out",
        "nav_profile": "Your profile",
        "footer_powered": "Powered by fediserver, part of the fediverse.",
        "front_join_title": "How to join",
        "front_join_open": "Sign-ups are open: pick a username and a password and you are in.",
        "front_join_approval": "Sign up, and a moderator approves your account before you can log in.",
        "front_join_closed": "Sign-ups are closed. You can still follow people here from any fediverse server.",
        "front_fediverse": "Already on Mastodon, Pixelfed or another fediverse server? Follow {handle} from there.",
        "front_latest": "Latest from this server",
        "feed_empty": "Nothing here yet.",
        "feed_home_title": "Home",
        "feed_local_title": "Local",
        "feed_federated_title": "Federated",
        "feed_older": "Older posts",
        "tag_title": "#{tag}",
        "login_title": "Log in",
        "login_username": "Username",
        "login_password": "Password",
        "login_submit": "Log in",
        "login_wrong": "Wrong username or password.",
        "login_unapproved": "Your account is waiting for a moderator's approval.",
        "login_limited": "Too many attempts. Try again in {minutes} minutes.",
        "signup_title": "Sign up",
        "signup_submit": "Create account",
        "signup_password_hint": "At least 8 characters.",
        "signup_username_hint": "Lowercase letters, digits and underscores; up to 30.",
        "signup_reason": "Why do you want to join? (seen by the moderators)",
        "signup_closed": "Sign-ups are closed on this server.",
        "signup_pending": "Thanks! A moderator will review your sign-up; you can log in once it is approved.",
        "csrf_failed": "This form expired or came from another site. Reload the page and try again.",
        "login_required": "Log in to see this page.",
        "admin_required": "Only moderators can see this page.",
        "post_cw_show": "Show content",
        "post_sensitive_show": "Show sensitive image",
        "post_boosted_by": "{name} boosted",
        "post_reply_to": "In reply to",
        "post_like": "Like",
        "post_boost": "Boost",
        "post_delete": "Delete",
        "post_remix": "Remix",
        "post_parameters": "How this image was made",
        "param_model": "Model",
        "param_prompt": "Prompt",
        "param_negative": "Negative prompt",
        "param_seed": "Seed",
        "param_steps": "Steps",
        "param_guidance": "Guidance",
        "param_size": "Size",
        "post_alt_missing": "No description.",
        "post_deleted": "This post was deleted.",
        "profile_posts": "Posts",
        "profile_images": "Images",
        "profile_follow_hint": "Follow from your fediverse account: {handle}",
        "compose_title": "Create",
        "compose_generate_title": "Generate an image",
        "compose_prompt": "Prompt",
        "compose_prompt_hint": "Describe the image you want.",
        "compose_seed": "Seed (empty for a random one)",
        "compose_generate": "Generate",
        "compose_upload_title": "Write a post",
        "compose_text": "Text",
        "compose_image": "Image (optional)",
        "compose_alt": "Image description (alt text)",
        "compose_alt_hint": "Required with an image: describe it for people who cannot see it.",
        "compose_alt_required": "Describe the image (alt text) before posting it.",
        "compose_cw": "Content warning (optional)",
        "compose_sensitive": "Mark the image as sensitive",
        "compose_visibility": "Who can see it",
        "visibility_public": "Public",
        "visibility_unlisted": "Unlisted",
        "visibility_followers": "Followers only",
        "compose_publish": "Publish",
        "assist_prompt": "Expand my idea",
        "assist_rewrite": "Improve my text",
        "assist_alt": "Suggest a description",
        "assist_working": "Writing a draft…",
        "assist_done": "Draft ready: read it and change what is wrong before you publish.",
        "assist_failed": "Writing help failed:",
        "job_title": "Generating",
        "job_progress": "Progress",
        "job_state_queued": "Waiting for the GPU…",
        "job_state_running": "Generating…",
        "job_state_done": "Done.",
        "job_state_failed": "Generation failed: {error}",
        "job_state_cancelled": "Cancelled.",
        "job_refresh": "Refresh",
        "job_cancel": "Cancel",
        "job_retry": "Try again with another seed",
        "job_published": "Published.",
        "job_view_post": "View the post",
        "follow_title": "Follow someone",
        "follow_account": "Handle (@user@server) or profile URL",
        "follow_submit": "Follow",
        "follow_sent": "Follow request sent to {account}.",
        "admin_title": "Moderation",
        "admin_gpu": "GPU worker",
        "admin_queue": "Jobs waiting",
        "admin_current": "Current job",
        "admin_none": "None",
        "admin_registrations": "Registrations to approve",
        "admin_approve": "Approve",
        "admin_reject": "Reject",
        "admin_reports": "Reports",
        "admin_report_from": "From {actor}",
        "admin_resolve": "Resolve",
        "admin_resolved": "Resolved",
        "admin_domains": "Blocked domains",
        "admin_domain": "Domain",
        "admin_reason": "Reason",
        "admin_block": "Block",
        "admin_unblock": "Unblock",
        "error_title": "Something is not right",
        "error_back": "Back to the front page",
    }
)


class Strings:
    """Attribute access for templates (``t.login_title``); an unknown key is an error, not a blank."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = table

    def __getattr__(self, key: str) -> str:
        try:
            return self._table[key]
        except KeyError:
            raise AttributeError(f"no UI string {key!r}") from None

    def __getitem__(self, key: str) -> str:
        return self.__getattr__(key)
