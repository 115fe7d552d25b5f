"""Static files served under names that carry their content hash, so they can be cached for a year."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str


@dataclass(frozen=True)
class Assets:
    """``app.css`` → ``app.1a2b3c4d5e6f.css`` and back; read once at start-up."""

    names: dict[str, str]
    files: dict[str, Asset]

    @classmethod
    def load(cls, root: Path = STATIC_DIR) -> Assets:
        names: dict[str, str] = {}
        files: dict[str, Asset] = {}
        for path in sorted(p for p in root.iterdir() if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            stem, dot, ext = path.name.rpartition(".")
            hashed = f"{stem}.{digest}.{ext}" if dot else f"{path.name}.{digest}"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            names[path.name] = hashed
            files[hashed] = Asset(path, media_type)
        return cls(names=names, files=files)

    def url(self, name: str) -> str:
        """The path of a static file by its plain name; an unknown name is a programming error."""
        return f"/static/{self.names[name]}"
