"""The server side of ActivityPub: rendering, verification, inbound handlers, delivery."""
