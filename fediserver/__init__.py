"""fediserver: a self-hostable ActivityPub server for images made on the instance's own GPU."""

__version__ = "0.1.0"
