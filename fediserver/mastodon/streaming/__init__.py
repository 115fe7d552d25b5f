"""The streaming API (docs.joinmastodon.org/methods/streaming/): SSE and WebSocket, fed by a broker."""
