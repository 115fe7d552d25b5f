"""Encodings and embedded metadata (no torch)."""

from __future__ import annotations

import io

import blurhash  # type: ignore[import-untyped]
import pytest
from PIL import Image

from generation import images
from generation.output import finish
from generation.presets import resolve_request

SOFTWARE = {"fediserver": "0.1.0", "diffusers": "0.42.1", "pipeline": "StableDiffusionPipeline"}


def gradient(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    return image


def test_xmp__digital_source_type_reads_back_from_png_and_webp() -> None:
    xmp = images.xmp_packet('a "quoted" <prompt> & more', "fediserver test")
    png = images.encode_png(gradient(32, 16), xmp)
    webp = images.encode_webp(gradient(32, 16), xmp)
    for data in (png, webp):
        assert images.read_digital_source_type(data) == images.TRAINED_ALGORITHMIC_MEDIA
        packet = images.read_xmp(data)
        assert packet is not None
        assert "a &quot;quoted&quot; &lt;prompt&gt; &amp; more" in packet or "&lt;prompt&gt;" in packet


def test_xmp__absent_gives_none() -> None:
    out = io.BytesIO()
    gradient(8, 8).save(out, "PNG")
    assert images.read_digital_source_type(out.getvalue()) is None
    assert images.read_parameters(out.getvalue()) is None


def test_png__parameters_round_trip() -> None:
    params = {"prompt": "ünïcode 🐱", "seed": 2**60, "steps": 2}
    png = images.encode_png(gradient(8, 8), images.xmp_packet("d", "t"), params)
    assert images.read_parameters(png) == params


@pytest.mark.parametrize(
    ("size", "expected"), [((640, 480), (320, 240)), ((200, 900), (71, 320)), ((64, 64), (64, 64))]
)
def test_thumbnail__fits_the_box_without_upscaling(size: tuple[int, int], expected: tuple[int, int]) -> None:
    data, width, height = images.thumbnail(gradient(*size), images.xmp_packet("d", "t"))
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (width, height) == expected


def test_blurhash__valid_and_reflects_the_colours() -> None:
    red = images.blurhash_of(Image.new("RGB", (100, 60), (220, 20, 20)))
    varied = images.blurhash_of(gradient(100, 60))
    assert len(red) == len(varied) == 28  # 4x3 components
    assert red != varied
    decoded = [px for row in blurhash.decode(red, 8, 8) for px in row]
    mean = [sum(px[c] for px in decoded) / len(decoded) for c in range(3)]
    assert abs(mean[0] - 220) < 15
    assert mean[1] < 40
    assert mean[2] < 40


def test_finish__unsigned_result_has_everything_but_a_manifest() -> None:
    request = resolve_request("a red square", seed=3, model="tiny")
    result = finish(gradient(64, 48), request, signer=None, software=SOFTWARE, notice="noise")
    assert (result.width, result.height, result.signed) == (64, 48, False)
    assert (result.thumbnail_width, result.thumbnail_height) == (64, 48)
    assert result.parameters() == request.parameters()
    assert images.read_parameters(result.png) == request.parameters()
    for data, fmt in ((result.png, "PNG"), (result.webp, "WEBP"), (result.thumbnail, "WEBP")):
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == fmt
        assert images.read_digital_source_type(data) == images.TRAINED_ALGORITHMIC_MEDIA
    xmp = images.read_xmp(result.png)
    assert xmp is not None
    assert "seed 3" in xmp
    assert "[noise]" in xmp


def test_xmp__user_text_cannot_break_the_packet() -> None:
    import xml.dom.minidom

    xmp = images.xmp_packet('a\x00b\x1bc </rdf:li> "x" & \ud800 é', 'tool "1"')
    document = xml.dom.minidom.parseString(xmp.split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    (item,) = document.getElementsByTagName("rdf:li")
    assert item.firstChild is not None
    assert item.firstChild.nodeValue == 'abc </rdf:li> "x" &  é'
    png = images.encode_png(gradient(8, 8), xmp)
    assert images.read_digital_source_type(png) == images.TRAINED_ALGORITHMIC_MEDIA


def test_encode_png__lossless_for_noise_gradients_and_flat_areas() -> None:
    # Z_RLE codes runs only: what a filter leaves, smooth or not, must still come back pixel for pixel
    noise = Image.frombytes("RGB", (64, 48), bytes((i * 7919 + i // 3) % 256 for i in range(64 * 48 * 3)))
    for image in (noise, gradient(64, 48), Image.new("RGB", (64, 48), (12, 200, 7))):
        png = images.encode_png(image, images.xmp_packet("d", "c"))
        with Image.open(io.BytesIO(png)) as decoded:
            assert decoded.convert("RGB").tobytes() == image.tobytes()
