#!/usr/bin/env python3
"""Writes a serialized RecommendRequest for load tools that send a binary
message (ghz --binary-file, deploy/ghz/recommend.json).

    PYTHONPATH=build/python /usr/bin/python3 tools/bench/ghz_request.py IMAGE... \
        [--top_k=10] [--explain] [--out=/tmp/i2s-ghz/recommend.bin]

Several images make one request with `images` (video keyframes).
"""

import argparse
import os
import sys

sys.path.insert(0, os.environ.get(
    "I2S_PYTHON_STUBS",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python")))
from image2song.v1 import image2song_pb2 as pb  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("images", nargs="+")
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--explain", action="store_true")
    p.add_argument("--out", default="/tmp/i2s-ghz/recommend.bin")
    args = p.parse_args()
    request = pb.RecommendRequest(top_k=args.top_k, explain=args.explain)
    data = []
    for path in args.images:
        with open(path, "rb") as f:
            data.append(f.read())
    if len(data) == 1:
        request.image = data[0]
    else:
        request.images.extend(data)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(request.SerializeToString())
    print(f"ghz_request: {args.out}: {request.ByteSize()} bytes, {len(data)} image(s)")


if __name__ == "__main__":
    main()
