"""Media files: uploads decoded, cleaned and re-encoded with Pillow, stored under the media folder by hash.

``ingest_upload`` is the one way an uploaded image enters the server (CLI now; the Mastodon API, web
UI and C2S uploads call it too). It decodes the upload within explicit limits, applies the EXIF
orientation and re-encodes the pixels into a fresh file, so EXIF (GPS, camera, owner, timestamps),
XMP, IPTC, comments and text chunks never reach the fediverse; only the ICC colour profile is kept.
Animated GIF and WebP keep their first frame only: a still image is what Mastodon shows for an image
attachment (it turns animated GIFs into video, which we do not make), and decoding every frame of a
hostile file multiplies the decoding cost by its frame count. Images we generate keep their own
provenance metadata: they are stored by ``fediserver.imagegen.results``, never through this path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fediserver.config import MediaSettings
from fediserver.errors import InvalidInput
from generation.images import PNG_OPTIONS, blurhash_of, thumbnail

# Formats Mastodon accepts as image attachments (MediaAttachment::IMAGE_MIME_TYPES).
FORMAT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
# What an upload is stored as: a GIF's first frame becomes a lossless PNG.
STORED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP", "GIF": "PNG"}
# Mastodon's cap for keeping an original as it is (3840x2160); larger uploads are scaled down to it.
STORED_PIXELS = 8_294_400
JPEG_QUALITY = 90
WEBP_QUALITY = 90
# Everything a hostile or broken file can make Pillow's decoders raise. DecompressionBombWarning is
# raised (not just logged) when warnings are errors; our own pixel check refuses those files anyway.
_DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
    struct.error, Image.DecompressionBombError, Image.DecompressionBombWarning,
)  # fmt: skip


@dataclass(frozen=True)
class MediaLimits:
    """``media.max_upload_bytes`` and ``media.max_pixels`` from the config."""

    max_bytes: int
    max_pixels: int

    @classmethod
    def from_settings(cls, media: MediaSettings) -> MediaLimits:
        return cls(max_bytes=media.max_upload_bytes, max_pixels=media.max_pixels)


@dataclass(frozen=True)
class StoredImage:
    """An upload as stored: the cleaned file, its thumbnail and what a MediaAttachment row needs."""

    storage_key: str
    thumbnail_key: str
    media_type: str
    width: int
    height: int
    size_bytes: int
    blurhash: str


def check_focus(x: float, y: float) -> tuple[float, float]:
    """A focal point as Mastodon's ``focalPoint``: x right and y up, each in [-1, 1] (checklist 16)."""
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise InvalidInput(f"focus: {x},{y} is outside [-1, 1] x [-1, 1]")
    return x, y


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
            # A temporary name of its own: two writers of the same content (the GPU worker and an upload in
            # another process, or files written on threads at once) each rename a whole file into place.
            # Mode as a plain write leaves it (0o666 less the umask): a proxy may serve the folder.
            tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return key

    def path(self, key: str) -> Path:
        if "\x00" in key:
            # The OS refuses NUL in paths (ValueError from resolve); a key from a URL may carry one.
            raise InvalidInput("media key contains NUL")
        candidate = (self.root / key).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise InvalidInput("media key escapes the media folder")
        return candidate


def _decode(data: bytes, limits: MediaLimits, declared_type: str | None) -> tuple[Image.Image, str]:
    """The upload's first frame, oriented, and its format; checks the header before decoding pixels."""
    with Image.open(io.BytesIO(data), formats=list(FORMAT_TYPES)) as image:
        source_format = image.format or ""
        detected = FORMAT_TYPES[source_format]
        if declared_type is not None and declared_type.lower() != detected:
            raise InvalidInput(f"image: declared as {declared_type} but the content is {detected}")
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidInput(f"image: {width}x{height} has no pixels")
        if width * height > limits.max_pixels:
            raise InvalidInput(f"image: {width}x{height} is more than the {limits.max_pixels}-pixel limit")
        image.seek(0)
        image.load()
        oriented = ImageOps.exif_transpose(image)
    return oriented, source_format


def _clean(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Fresh pixels in RGB, RGBA, L or LA with no metadata attached; the profile if it still applies."""
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        # The profile described the old colour space; RGB without one is read as sRGB.
        image, icc = image.convert("RGB"), None
    elif image.mode in ("1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = image.convert("L")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    if image.width * image.height > STORED_PIXELS:
        scale = (STORED_PIXELS / (image.width * image.height)) ** 0.5
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    # A new image with the pixels only: nothing of the decoder's info (EXIF, XMP, comments) comes along.
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    return fresh, icc


def _encode(image: Image.Image, stored_format: str, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if stored_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, **options)
    elif stored_format == "WEBP":
        image.save(out, "WEBP", quality=WEBP_QUALITY, **options)
    else:
        image.save(out, "PNG", **PNG_OPTIONS, **options)
    return out.getvalue()


def clean_image(data: bytes, limits: MediaLimits, declared_type: str | None = None) -> tuple[bytes, str, Image.Image]:
    """Decode ``data`` within ``limits`` and re-encode it without metadata: (bytes, media type, image).

    Raises ``InvalidInput`` with the reason for anything that is not a whole PNG, JPEG, WebP or GIF
    within the limits, or whose content is not ``declared_type``.
    """
    if not data:
        raise InvalidInput("image: the file is empty")
    if len(data) > limits.max_bytes:
        raise InvalidInput(f"image: {len(data)} bytes is more than the {limits.max_bytes}-byte limit")
    try:
        image, source_format = _decode(data, limits, declared_type)
        icc = image.info.get("icc_profile")
        clean, icc = _clean(image, icc if isinstance(icc, bytes) else None)
        stored_format = STORED_FORMATS[source_format]
        encoded = _encode(clean, stored_format, icc)
    except InvalidInput:
        raise
    except UnidentifiedImageError:
        raise InvalidInput("image: not a readable image (use PNG, JPEG, WebP or GIF)") from None
    except _DECODE_ERRORS as exc:
        raise InvalidInput(f"image: not a readable image ({type(exc).__name__}: {exc})") from None
    return encoded, FORMAT_TYPES[stored_format], clean


def ingest_upload(
    store: LocalMediaStore, data: bytes, limits: MediaLimits, *, declared_type: str | None = None
) -> StoredImage:
    """Store an uploaded image, cleaned of personal metadata, with a thumbnail and a blurhash.

    ``declared_type`` is what the client said the file is (a multipart part's Content-Type); a file
    that lies about its type is refused, as Mastodon refuses it. CPU-bound: call it from a thread in
    an event loop.
    """
    encoded, media_type, image = clean_image(data, limits, declared_type)
    preview, _, _ = thumbnail(image, None)
    return StoredImage(
        storage_key=store.put(encoded, media_type),
        thumbnail_key=store.put(preview, "image/webp"),
        media_type=media_type,
        width=image.width,
        height=image.height,
        size_bytes=len(encoded),
        blurhash=blurhash_of(image),
    )
