"""The OAuth 2 server Mastodon apps log in with (RFC 6749, RFC 7636 PKCE, RFC 8414 metadata, RFC 7009 revoke)."""
