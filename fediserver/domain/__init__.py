"""The domain layer: one use-case function per action, shared by every interface.

The CLI, the GPU worker, the Mastodon client API, the web UI and ActivityPub client-to-server all call
these functions; none of them joins storage and federation on its own. Each use case takes a
:class:`~fediserver.domain.services.Services` and an open ``AsyncSession``, does its work, queues any
deliveries, and leaves the commit to the caller (so an interface can answer only once it is durable).
"""
