"""ActivityPub client-to-server (ActivityPub §6): the outbox a client POSTs to, over the domain layer."""
