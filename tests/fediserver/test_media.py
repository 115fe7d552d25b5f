"""Uploads: cleaned of personal metadata, oriented, profile kept; hostile files refused with a reason."""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, IptcImagePlugin

from fediserver.config import MediaSettings
from fediserver.errors import InvalidInput
from fediserver.media import STORED_PIXELS, LocalMediaStore, MediaLimits, clean_image, ingest_upload

LIMITS = MediaLimits.from_settings(MediaSettings())
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# Hypothesis examples per property: small by default so CI stays fast; FEDISERVER_FUZZ_EXAMPLES for a long run.
FUZZ_EXAMPLES = int(os.environ.get("FEDISERVER_FUZZ_EXAMPLES", "60"))
# Strings the personal-metadata fixtures carry; none may survive into a stored file.
PERSONAL = [
    b"Canon", b"EOS 5D", b"Alice Owner", b"2024:01:02", b"secret-xmp", b"owner Alice", b"Photoshop 3.0", b"Exif",
]  # fmt: skip


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif[0x013B] = "Alice Owner"  # Artist
    exif[0x0132] = "2024:01:02 03:04:05"  # DateTime
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    return exif


def _marked(mode: str = "RGB") -> Image.Image:
    """40x20, blue with a red 10x10 block in the top-left corner (to see where orientation puts it)."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 10))
    return image.convert(mode)


def _iptc_segment() -> bytes:
    """A JPEG APP13 segment with an IPTC By-line, as Photoshop and Lightroom write it."""
    iptc = b"\x1c\x02\x50" + struct.pack(">H", 11) + b"Alice Owner"
    block = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + block
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_metadata(orientation: int = 6) -> bytes:
    out = io.BytesIO()
    _marked().save(
        out, "JPEG", quality=95, exif=_exif(orientation), xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>",
        icc_profile=ICC, comment=b"owner Alice",
    )  # fmt: skip
    data = out.getvalue()
    return data[:2] + _iptc_segment() + data[2:]


def png_with_metadata() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Alice Owner")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret-xmp</x:xmpmeta>")
    out = io.BytesIO()
    _marked().save(out, "PNG", pnginfo=info, exif=_exif(1), icc_profile=ICC)
    return out.getvalue()


def webp_with_metadata() -> bytes:
    out = io.BytesIO()
    _marked().save(out, "WEBP", quality=95, exif=_exif(1), xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>", icc_profile=ICC)
    return out.getvalue()


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def assert_no_personal_metadata(data: bytes) -> None:
    for marker in PERSONAL:
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "Author"} & set(image.info)
        assert IptcImagePlugin.getiptcinfo(image) is None


@pytest.mark.parametrize(
    ("make", "media_type"),
    [(jpeg_with_metadata, "image/jpeg"), (png_with_metadata, "image/png"), (webp_with_metadata, "image/webp")],
)
def test_clean_image__drops_exif_xmp_iptc_and_keeps_the_profile(make: object, media_type: str) -> None:
    assert callable(make)
    original: bytes = make()
    # The fixture really carries what must go: otherwise the test below could not fail.
    assert any(marker in original for marker in PERSONAL)
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(0x8825)
    data, stored_type, _ = clean_image(original, LIMITS)
    assert stored_type == media_type
    assert_no_personal_metadata(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.info.get("icc_profile") == ICC


def test_clean_image__applies_the_orientation() -> None:
    # Orientation 6: the camera was turned; viewers rotate 90° clockwise, so the top-left goes top-right.
    data, _, image = clean_image(jpeg_with_metadata(orientation=6), LIMITS)
    assert image.size == (20, 40)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (20, 40)
        red, _, blue = stored.convert("RGB").getpixel((15, 4))  # type: ignore[misc]
        assert red > 200
        assert blue < 60
        red, _, blue = stored.convert("RGB").getpixel((4, 4))  # type: ignore[misc]
        assert red < 60
        assert blue > 200


def test_clean_image__unrotated_twin_stays_put() -> None:
    _, _, image = clean_image(jpeg_with_metadata(orientation=1), LIMITS)
    assert image.size == (40, 20)


def test_ingest_upload__stores_file_thumbnail_and_blurhash(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    photo = Image.new("RGB", (1200, 600), (30, 120, 200))
    stored = ingest_upload(store, encoded(photo, "JPEG", exif=_exif()), LIMITS, declared_type="image/jpeg")
    assert (stored.media_type, stored.width, stored.height) == ("image/jpeg", 1200, 600)
    assert stored.size_bytes == store.path(stored.storage_key).stat().st_size
    assert_no_personal_metadata(store.path(stored.storage_key).read_bytes())
    with Image.open(store.path(stored.thumbnail_key)) as preview:
        assert (preview.format, preview.size) == ("WEBP", (320, 160))
    assert_no_personal_metadata(store.path(stored.thumbnail_key).read_bytes())
    assert len(stored.blurhash) == 28


def test_ingest_upload__scales_down_past_mastodons_original_size(tmp_path: Path) -> None:
    big = Image.new("L", (4000, 3000), 128)  # 12 MP, a phone photo
    stored = ingest_upload(LocalMediaStore(tmp_path), encoded(big, "PNG"), LIMITS)
    assert stored.width * stored.height <= STORED_PIXELS
    assert abs(stored.width / stored.height - 4 / 3) < 0.01


@pytest.mark.parametrize(("fmt", "stored_format"), [("GIF", "PNG"), ("WEBP", "WEBP")])
def test_animated__keeps_the_first_frame(tmp_path: Path, fmt: str, stored_format: str) -> None:
    frames = [Image.new("RGB", (30, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as source:
        assert getattr(source, "n_frames", 1) == 3
    store = LocalMediaStore(tmp_path)
    stored = ingest_upload(store, data, LIMITS)
    with Image.open(store.path(stored.storage_key)) as image:
        assert image.format == stored_format
        assert getattr(image, "n_frames", 1) == 1
        red, green, _ = image.convert("RGB").getpixel((15, 15))  # type: ignore[misc]
        assert red > 200
        assert green < 60


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose data is a few bytes: a bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 frame header is rewritten to claim another size."""
    data = bytearray(encoded(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _truncated(fmt: str) -> bytes:
    noisy = Image.effect_noise((64, 64), 50).convert("RGB")
    data = encoded(noisy, fmt)
    return data[: len(data) // 2]


HOSTILE = {
    "empty": (b"", "empty"),
    "text": (b"not an image at all", "not a readable image"),
    "truncated PNG": (_truncated("PNG"), "not a readable image"),
    "truncated JPEG": (_truncated("JPEG"), "not a readable image"),
    "truncated WebP": (_truncated("WEBP"), "not a readable image"),
    "bomb over our limit": (_png_header_only(8000, 6000), "33177600-pixel limit"),
    "bomb over Pillow's limit": (_png_header_only(100_000, 100_000), "not a readable image"),
    "huge JPEG dimensions": (_jpeg_claiming(65000, 65000), "not a readable image"),
    "BMP": (encoded(Image.new("RGB", (4, 4)), "BMP"), "not a readable image"),
    "TIFF": (encoded(Image.new("RGB", (4, 4)), "TIFF"), "not a readable image"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file__is_invalid_input_with_a_reason(tmp_path: Path, name: str) -> None:
    data, reason = HOSTILE[name]
    with pytest.raises(InvalidInput, match=reason) as caught:
        ingest_upload(LocalMediaStore(tmp_path), data, LIMITS)
    assert caught.value.status_code == 422
    assert list(tmp_path.iterdir()) == []


def test_huge_dimensions__refused_before_decoding() -> None:
    # Within Pillow's bomb guard but over ours: the header alone decides.
    with pytest.raises(InvalidInput, match="100-pixel limit"):
        clean_image(encoded(Image.new("RGB", (11, 10)), "PNG"), MediaLimits(max_bytes=10_000, max_pixels=100))
    clean_image(encoded(Image.new("RGB", (10, 10)), "PNG"), MediaLimits(max_bytes=10_000, max_pixels=100))


def test_pillow_bomb_guard__is_on_above_our_limit() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    assert LIMITS.max_pixels <= Image.MAX_IMAGE_PIXELS


def test_too_many_bytes__is_refused() -> None:
    data = encoded(Image.new("RGB", (10, 10)), "PNG")
    with pytest.raises(InvalidInput, match="byte limit"):
        clean_image(data, MediaLimits(max_bytes=len(data) - 1, max_pixels=1000))
    clean_image(data, MediaLimits(max_bytes=len(data), max_pixels=1000))


def test_lying_mime_type__is_refused() -> None:
    jpeg = encoded(Image.new("RGB", (8, 8)), "JPEG")
    with pytest.raises(InvalidInput, match="declared as image/png but the content is image/jpeg"):
        clean_image(jpeg, LIMITS, declared_type="image/png")
    assert clean_image(jpeg, LIMITS, declared_type="IMAGE/JPEG")[1] == "image/jpeg"


def _seeds() -> list[bytes]:
    small = Image.effect_noise((24, 16), 40).convert("RGB")
    frames = [small, small.rotate(90)]
    return [
        encoded(small, "PNG"),
        encoded(small.convert("P"), "PNG", transparency=0),
        encoded(small, "JPEG", exif=_exif(6)),
        encoded(small, "WEBP"),
        encoded(small, "GIF", save_all=True, append_images=frames[1:]),
    ]


SEEDS = _seeds()


def _survives(data: bytes, tmp_path: Path) -> None:
    """Any outcome but a stored clean file or ``InvalidInput`` with a reason fails the property."""
    reason: str | None = None
    try:
        stored = ingest_upload(LocalMediaStore(tmp_path), data, MediaLimits(max_bytes=1 << 20, max_pixels=1 << 20))
    except InvalidInput as exc:
        reason = exc.message
    if reason is not None:
        assert reason.startswith("image: ")
        return
    assert_no_personal_metadata(LocalMediaStore(tmp_path).path(stored.storage_key).read_bytes())


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_fuzz__random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    _survives(data, tmp_path)


# Pillow's EXIF reader warns about a broken tag and skips it; the pixels are still re-encoded
# without any metadata, so the upload is stored. (Tests turn warnings into errors.)
@pytest.mark.filterwarnings(r"ignore::UserWarning:PIL\.TiffImagePlugin")
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(min_value=0, max_value=1 << 16), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=1 << 16),
)
def test_fuzz__corrupted_images_never_crash(
    tmp_path: Path, seed: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    _survives(bytes(data[: max(1, len(data) - cut % len(data))]), tmp_path)


def test_media_store__writers_of_the_same_content_at_once_each_put_a_whole_file(tmp_path: Path) -> None:
    # Given 16 threads storing the same 4 MB at the same moment (the GPU worker writes a job's files on
    # threads, and an upload in another process may carry the same bytes)
    store = LocalMediaStore(tmp_path)
    data = os.urandom(4 << 20)
    start = threading.Barrier(16)

    def put() -> str:
        start.wait()
        return store.put(data, "image/png")

    with ThreadPoolExecutor(16) as pool:
        keys = list(pool.map(lambda _: put(), range(16)))
    # Then every writer got the same key, the file holds the whole content, and no temporary file is left
    assert set(keys) == {keys[0]}
    assert store.path(keys[0]).read_bytes() == data
    assert [p.name for p in store.path(keys[0]).parent.iterdir()] == [store.path(keys[0]).name]
    assert oct(store.path(keys[0]).stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
