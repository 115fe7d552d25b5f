"""Post text as Mastodon reads and writes it: entities (links, mentions, hashtags), HTML, length."""
