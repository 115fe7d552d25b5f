"""Image generation in the server: the queue, the GPU worker process, results as posts.

Only ``generation``'s backend imports torch; this package imports it solely through the worker's
engine loader, which runs in the GPU worker process, never in the web process.
"""
