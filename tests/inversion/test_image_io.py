"""Loading photos: conversions, EXIF orientation, and refusing bad files with clear errors."""
import struct
import time
import zlib

import numpy as np
import PIL.Image
import pytest
from skimage import data

from inversion import ImageReadError, ImageTooLargeError, load_image
from inversion.image_io import MAX_PIXELS


def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(path, width, height, pixels=b"\0" * 64, depth=8):
    """A hand-made RGB PNG; with the default `pixels` its header claims a size it does not hold."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(pixels))
                     + _chunk(b"IEND", b""))
    return path


def _png_header_only(path, width, height):
    return _png(path, width, height)


@pytest.fixture(scope="module")
def photo():
    return data.astronaut()[::4, ::4].copy()  # 128 x 128, keeps the tests fast


def test_path_array_and_pil_agree(tmp_path, photo):
    path = tmp_path / "a.png"
    PIL.Image.fromarray(photo).save(path)
    for source in (path, str(path), PIL.Image.open(path), photo):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (128, 128, 3)
        np.testing.assert_array_equal(out, photo)


def test_exif_orientation_is_applied(tmp_path, photo):
    upright = photo[:, :96]  # not square, so a missed rotation changes the shape
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.png"
    PIL.Image.fromarray(np.rot90(upright, 1)).save(path, exif=exif)  # stored rotated counter-clockwise
    np.testing.assert_array_equal(load_image(path), upright)
    np.testing.assert_array_equal(load_image(PIL.Image.open(path)), upright)


def test_grayscale_rgba_palette_and_16bit(tmp_path, photo):
    gray = photo[:, :, 1]
    out = load_image(PIL.Image.fromarray(gray))
    assert out.shape == (128, 128, 3)
    np.testing.assert_array_equal(out[:, :, 0], gray)
    np.testing.assert_array_equal(out[:, :, 2], gray)

    rgba = np.dstack([photo, np.full(gray.shape, 255, np.uint8)])
    rgba[:10, :, 3] = 0  # fully transparent rows become white, not their hidden colour
    out = load_image(PIL.Image.fromarray(rgba, "RGBA"))
    np.testing.assert_array_equal(out[10:], photo[10:])
    assert (out[:10] == 255).all()

    pal = PIL.Image.fromarray(photo).convert("P")
    np.testing.assert_array_equal(load_image(pal), np.asarray(pal.convert("RGB")))

    deep = gray.astype(np.uint16) * 257  # full 16-bit range
    path = tmp_path / "deep.png"
    PIL.Image.fromarray(deep).save(path)
    out = load_image(path)
    np.testing.assert_array_equal(out[:, :, 0], gray)
    np.testing.assert_array_equal(load_image(deep)[:, :, 1], gray)
    np.testing.assert_array_equal(load_image(photo / 255.0), photo)  # float [0, 1]
    assert load_image(np.ones((3, 4), bool)).max() == 255


def test_48_bit_png(tmp_path):
    rgb16 = (np.arange(6 * 7 * 3).reshape(6, 7, 3) * 1000 % 65536).astype(">u2")
    rows = b"".join(b"\0" + row.tobytes() for row in rgb16)  # filter byte 0 per row
    out = load_image(_png(tmp_path / "deep_rgb.png", 7, 6, rows, depth=16))
    assert out.dtype == np.uint8 and out.shape == (6, 7, 3)
    assert np.abs(out.astype(float) - rgb16 / 257.0).max() <= 1.0


@pytest.mark.parametrize("shape", [(5,), (4, 4, 5), (0, 4, 3)])
def test_bad_array_shapes(shape):
    with pytest.raises(ImageReadError, match="shape"):
        load_image(np.zeros(shape, np.uint8))


def test_missing_and_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="nope.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageReadError, match=r"notes\.jpg.*not an image"):
        load_image(text)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, photo, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    PIL.Image.fromarray(photo).save(path, format=fmt)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=rf"cut\.{fmt.lower()}.*(truncated|corrupt)"):
        load_image(path)


def test_too_large_is_refused_before_decoding(tmp_path):
    path = _png_header_only(tmp_path / "huge.png", 8000, 6000)  # 48 MP
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=r"huge\.png is 8000x6000 = 48\.0 megapixels, over the 40 MP limit"):
        load_image(path)
    assert time.perf_counter() - start < 0.5  # header only: decoding 48 MP would take far longer
    assert MAX_PIXELS == 40_000_000
    with pytest.raises(ImageTooLargeError, match="over the 0.001 MP limit"):
        load_image(_png_header_only(tmp_path / "small.png", 40, 40), max_pixels=1000)


def test_decompression_bomb(tmp_path):
    # Above twice PIL's own limit PIL raises while reading the header; we report it the same way.
    path = _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):
        load_image(path)
