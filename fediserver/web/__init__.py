"""The web UI: server-rendered pages for browsers, progressive enhancement with one small script."""
