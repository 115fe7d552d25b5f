"""The Mastodon client API (docs.joinmastodon.org, Mastodon 4.5), so existing apps can use this instance."""
