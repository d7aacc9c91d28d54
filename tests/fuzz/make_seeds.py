#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (OUT/decode, OUT/request, OUT/http):
small valid images of each format, broken ones (truncated, bad magic, a PNG
header declaring 50000 x 50000 pixels), the odd ones of the test assets (CMYK
and EXIF-rotated JPEG, animated GIF/WebP, multi-page TIFF, 16-bit PNG) and
Recommend requests built from them. Standard library only.

  make_seeds.py TEST_ASSETS_DIR OUT   # assets: tests/testdata/make_test_assets.py
"""
import os
import struct
import sys
import zlib

def png(width, height, rows, color_type=2, bit_depth=8):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def bmp(width, height):
    row = bytes([200, 100, 50] * width)
    row += b"\x00" * ((4 - len(row) % 4) % 4)
    pixels = row * height
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(number, wire, payload):
    key = varint((number << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    assets, out = sys.argv[1], sys.argv[2]
    decode = os.path.join(out, "decode")
    request = os.path.join(out, "request")
    os.makedirs(decode, exist_ok=True)
    os.makedirs(request, exist_ok=True)
    seeds = {
        "rgb8.png": png(8, 8, [bytes([x * 30, 255 - x * 30, 90] * 8) for x in range(8)]),
        "gray16.png": png(4, 4, [b"\x12\x34" * 4] * 4, color_type=0, bit_depth=16),
        "rgba.png": png(4, 4, [b"\x10\x20\x30\x80" * 4] * 4, color_type=6),
        "bomb.png": png(50000, 50000, [b"\x00\x00\x00"]),
        "rgb.bmp": bmp(5, 3),
        "bad_magic.bin": b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20,
        "empty.bin": b"",
    }
    with open(os.path.join(assets, "images", "red.jpg"), "rb") as f:
        jpeg = f.read()
    with open(os.path.join(assets, "images", "green.webp"), "rb") as f:
        webp = f.read()
    seeds["red.jpg"] = jpeg
    seeds["truncated.jpg"] = jpeg[: len(jpeg) // 2]
    seeds["green.webp"] = webp
    odd = os.path.join(assets, "images", "odd")  # CMYK, EXIF, animated, multi-page
    for name in sorted(os.listdir(odd)):
        with open(os.path.join(odd, name), "rb") as f:
            seeds["odd_" + name] = f.read()
    # Structured seeds of fuzz_decode: "I2SG", format (0 PNG, 1 JPEG, 2 WebP,
    # 3 BMP), width-1 and height-1 (16-bit LE, mod 20000), flags (1 forge
    # the header size, 2 cut `cut` bytes, 4 append the tail), cut (16-bit),
    # forged width and height (32-bit), colour seed, then the tail.
    def geometry(fmt, w, h, flags=0, cut=0, fw=0, fh=0, tail=b""):
        return (b"I2SG" + struct.pack("<BHHBHIIB", fmt, w - 1, h - 1, flags, cut, fw, fh, 77) +
                tail)
    for fmt, ext in enumerate(["png", "jpg", "webp", "bmp"]):
        for w, h in [(1, 300), (300, 1), (450, 1), (10000, 10), (10, 10000), (1, 1)]:
            seeds[f"geometry_{w}x{h}.{ext}.i2sg"] = geometry(fmt, w, h)
    seeds["geometry_forged.png.i2sg"] = geometry(0, 40, 30, flags=1, fw=1, fh=65535)
    seeds["geometry_forged.jpg.i2sg"] = geometry(1, 40, 30, flags=1, fw=30000, fh=2)
    seeds["geometry_no_eoi.jpg.i2sg"] = geometry(1, 64, 48, flags=2, cut=2)
    seeds["geometry_motion.jpg.i2sg"] = geometry(1, 64, 48, flags=4, tail=b"\x00\x00\x00\x18ftypmp42" * 40)
    for name, data in seeds.items():
        with open(os.path.join(decode, name), "wb") as f:
            f.write(data)
    filters = (field(1, 2, b"folk") + field(6, 0, varint(1)) +
               field(7, 5, struct.pack("<f", 30.0)) + field(8, 5, struct.pack("<f", 300.0)))
    requests = {
        "one_jpeg.pb": field(1, 2, jpeg) + field(2, 0, varint(5)),
        "two_images.pb": field(5, 2, seeds["rgb8.png"]) + field(5, 2, webp) + field(4, 0, varint(1)),
        "text_filters.pb": field(6, 2, b"sea and sunshine") + field(3, 2, filters),
        "bomb.pb": field(1, 2, seeds["bomb.png"]),
        "bad_top_k.pb": field(1, 2, seeds["rgb.bmp"]) + field(2, 0, varint(1000)),
        "bad_utf8.pb": field(1, 2, seeds["rgb8.png"]) + field(6, 2, b"caf\xc3 \xff"),
        "bad_utf8_filter.pb": field(3, 2, field(1, 2, b"folk") + field(1, 2, b"\xed\xa0\x80")),
    }
    for name, data in requests.items():
        with open(os.path.join(request, name), "wb") as f:
            f.write(data)
    # HTTP requests for fuzz_http: byte 0 picks the Content-Type, then the
    # query string up to the first newline, then the body.
    http = os.path.join(out, "http")
    os.makedirs(http, exist_ok=True)
    small = seeds["rgb8.png"]
    part = (b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + small + b"\r\n"
            b'--XyZ\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n--XyZ--\r\n')
    https = {
        "raw_png.http": b"\x00top_k=3&genres=folk,pop&text=sea%20and+sun\n" + small,
        "multipart.http": b"\x01explain=false\n" + part,
        "json.http": b'\x02\n{"image": "aGVsbG8=", "top_k": 2, "filters": {"genres": ["hymn"]}}',
        "text.http": b"\x03\nhello",
        "bad_escape.http": b"\x00text=%zz\n" + small,
        # Whole requests for the framing checks (server/http/http_wire.h).
        "head_length.http": b"\x05POST /v1/recommend?top_k=3 HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(small)
                            + small,
        "head_chunked.http": b"\x05POST /v1/recommend HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                             b"Expect: 100-continue\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        "head_get.http": b"\x05\r\nGET http://h/v1/songs/a%20b?x#f HTTP/1.0\nConnection: keep-alive\n\n",
        "chunks.http": b"\x05a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    }
    for name, data in https.items():
        with open(os.path.join(http, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} decode seeds, {len(requests)} request seeds, {len(https)} http seeds "
          f"under {out}")


if __name__ == "__main__":
    main()
