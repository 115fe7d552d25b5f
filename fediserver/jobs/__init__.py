"""Durable job queues: database tables claimed with a lease, retried by pure policies."""
