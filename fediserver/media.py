"""Media files: validated with Pillow, stored under the media folder by content hash."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fediserver.errors import InvalidInput

# Formats Mastodon accepts as image attachments (MediaAttachment::IMAGE_MIME_TYPES).
FORMAT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MAX_PIXELS = 8_294_400  # 3840x2160, Mastodon's cap for keeping an original as it is


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Check that ``data`` is a whole image of an accepted format and size."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            media_type = FORMAT_TYPES.get(image.format or "")
            width, height = image.size
            if media_type is None:
                raise InvalidInput(f"image: format {image.format} is not accepted (use PNG, JPEG, WebP or GIF)")
            if width * height > MAX_PIXELS:
                raise InvalidInput(f"image: {width}x{height} is larger than {MAX_PIXELS} pixels")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"image: not a readable image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise InvalidInput(f"image: {exc}") from None
    return ImageInfo(media_type=media_type, width=width, height=height)


class LocalMediaStore:
    """Files under one folder; keys are ``ab/abcdef….ext`` (SHA-256 of the content)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, media_type: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}.{EXTENSIONS[media_type]}"
        path = self.path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            tmp.replace(path)
        return key

    def path(self, key: str) -> Path:
        if "\x00" in key:
            # The OS refuses NUL in paths (ValueError from resolve); a key from a URL may carry one.
            raise InvalidInput("media key contains NUL")
        candidate = (self.root / key).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise InvalidInput("media key escapes the media folder")
        return candidate
