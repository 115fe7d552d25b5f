from fediserver.cli import entry

entry()
