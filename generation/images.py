"""Image encodings for a generated picture: PNG original, WebP for the web, thumbnail, blurhash, XMP.

The XMP packet labels the image with the IPTC DigitalSourceType ``trainedAlgorithmicMedia``. It is
written here, before any C2PA signing, because signing must be the last step that touches the bytes.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from typing import Any
from xml.sax.saxutils import escape

import blurhash  # type: ignore[import-untyped]
from PIL import Image, PngImagePlugin

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PNG_XMP_KEY = "XML:com.adobe.xmp"
# The key AUTOMATIC1111 and most image viewers' "generation info" panels read.
PNG_PARAMETERS_KEY = "parameters"

# zlib level 1 with the run-length strategy (Z_RLE): PNG's row filters leave runs, which Z_RLE codes without
# searching for longer matches. On 512x512 photo-like images 11 to 22 ms and 113 to 571 KiB, against 12 to
# 33 ms and 152 to 594 KiB for level 1 alone and 34 to 92 ms and 109 to 571 KiB for Pillow's default 6;
# only flat synthetic gradients come out larger (38 against 27 KiB). Lossless either way; the PNG is the
# critical path of finish() (docs/benchmarks.md, the GPU worker through the server).
PNG_OPTIONS: dict[str, Any] = {"compress_level": 1, "compress_type": zlib.Z_RLE}
WEBP_QUALITY = 90
# libwebp's effort, 0-6 (Pillow's default is 4). On 512x512 images at quality 90, method 2 encodes in half
# the time of 4 (17 against 35 ms) to the same size (94 KiB) and 0.05 dB less PSNR: the WebP and the
# thumbnail were two thirds of finish()'s CPU (docs/benchmarks.md, the GPU worker through the server).
WEBP_METHOD = 2
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 80
# Blurhash is computed on a small copy: the hash only keeps a few low-frequency components (4x3),
# and the encoder is pure Python (about 4 ms at 32x32, 1 ms at 16x16, seconds at 512x512).
_BLURHASH_SIDE = 16

_XMP_TEMPLATE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    Iptc4xmpExt:DigitalSourceType="{source_type}"
    xmp:CreatorTool="{creator_tool}">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

_SOURCE_TYPE_RE = re.compile(r'Iptc4xmpExt:DigitalSourceType="([^"]*)"')
# Characters XML 1.0 forbids even when escaped; prompts are user input and may contain them.
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str, quote: bool = False) -> str:
    cleaned = _NOT_XML_RE.sub("", text)
    return escape(cleaned, {'"': "&quot;"}) if quote else escape(cleaned)


def xmp_packet(description: str, creator_tool: str) -> str:
    """An XMP packet marking the image as ``trainedAlgorithmicMedia``, with a description and tool."""
    return _XMP_TEMPLATE.format(
        source_type=TRAINED_ALGORITHMIC_MEDIA,
        creator_tool=_xml_text(creator_tool, quote=True),
        description=_xml_text(description),
    )


def encode_png(image: Image.Image, xmp: str, parameters: dict[str, Any] | None = None) -> bytes:
    """Lossless PNG with the XMP packet (iTXt) and optionally the parameters as JSON (tEXt/iTXt).

    Pillow ignores ``xmp=`` for PNG, so the packet goes in the iTXt chunk Adobe defines.
    """
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PNG_XMP_KEY, xmp, zip=False)
    if parameters is not None:
        info.add_itxt(PNG_PARAMETERS_KEY, json.dumps(parameters, sort_keys=True))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, **PNG_OPTIONS)
    return out.getvalue()


def encode_webp(image: Image.Image, xmp: str | None, quality: int = WEBP_QUALITY) -> bytes:
    """Lossy WebP with the XMP packet; ``xmp=None`` writes none (uploads carry no metadata)."""
    out = io.BytesIO()
    if xmp is None:
        image.save(out, "WEBP", quality=quality, method=WEBP_METHOD)
    else:
        image.save(out, "WEBP", quality=quality, method=WEBP_METHOD, xmp=xmp.encode("utf-8"))
    return out.getvalue()


def thumbnail(image: Image.Image, xmp: str | None, side: int = THUMBNAIL_SIDE) -> tuple[bytes, int, int]:
    """A WebP no larger than ``side`` on its longer edge (never upscaled), with its width and height."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return encode_webp(small, xmp, THUMBNAIL_QUALITY), small.width, small.height


def blurhash_of(image: Image.Image, components_x: int = 4, components_y: int = 3) -> str:
    """The blurhash (https://blurha.sh) of ``image``, as Mastodon stores it for media previews."""
    small = image.convert("RGB")
    small.thumbnail((_BLURHASH_SIDE, _BLURHASH_SIDE), Image.Resampling.BILINEAR)
    width, height = small.size
    flat = small.tobytes()
    rows = [[list(flat[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)] for y in range(height)]
    value = blurhash.encode(rows, components_x=components_x, components_y=components_y)
    if not isinstance(value, str):
        raise TypeError(f"blurhash.encode returned {type(value).__name__}, expected str")
    return value


def read_xmp(data: bytes) -> str | None:
    """The XMP packet of a PNG, WebP or JPEG, or None when there is none."""
    with Image.open(io.BytesIO(data)) as image:
        raw = image.info.get(PNG_XMP_KEY) if image.format == "PNG" else image.info.get("xmp")
    if raw is None:
        return None
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def read_digital_source_type(data: bytes) -> str | None:
    """The IPTC DigitalSourceType stored in the image's XMP, or None."""
    xmp = read_xmp(data)
    match = _SOURCE_TYPE_RE.search(xmp) if xmp is not None else None
    return match.group(1) if match else None


def read_parameters(png: bytes) -> dict[str, Any] | None:
    """The generation parameters stored in a PNG by :func:`encode_png`, or None."""
    with Image.open(io.BytesIO(png)) as image:
        raw = image.info.get(PNG_PARAMETERS_KEY)
    if raw is None:
        return None
    parsed = json.loads(str(raw))
    if not isinstance(parsed, dict):
        raise ValueError("PNG parameters chunk is not a JSON object")
    return parsed
