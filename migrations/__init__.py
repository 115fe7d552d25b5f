"""Alembic migrations for fediserver (a package so that it installs with the server)."""
