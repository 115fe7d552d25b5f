"""Processing of verified inbound activities, one handler per activity type.

The inbox has already verified the signature and the origins; a handler either succeeds, raises an
error that the worker retries (a fetch that failed), or raises ``PermanentJobError``.
"""
