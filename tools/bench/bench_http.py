#!/usr/bin/env python3
"""Latency of the same Recommend over gRPC and over the HTTP gateway, one call
at a time, against a running i2s-server (prints numbers; not a test).

    PYTHONPATH=build/python /usr/bin/python3 tools/bench/bench_http.py \
        --grpc=127.0.0.1:50051 --http=127.0.0.1:8080 IMAGE [--calls=200]

Both clients keep their connection open (HTTP/1.1 keep-alive, one gRPC
channel); the difference is the gateway's cost: HTTP parsing, the in-process
gRPC call, JSON printing.
"""

import argparse
import http.client
import os
import statistics
import sys
import time

sys.path.insert(0, os.environ.get(
    "I2S_PYTHON_STUBS",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python")))
import grpc  # noqa: E402
from image2song.v1 import image2song_pb2 as pb  # noqa: E402
from image2song.v1 import image2song_pb2_grpc as pb_grpc  # noqa: E402


def summary(name, ms):
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    print(f"{name:5s} calls {len(ms)}  p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  "
          f"mean {statistics.fmean(ms):7.2f} ms")
    return statistics.median(ms)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("image")
    p.add_argument("--grpc", required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--top_k", type=int, default=10)
    args = p.parse_args()
    image = open(args.image, "rb").read()
    ctype = "image/png" if args.image.endswith(".png") else "image/jpeg"

    channel = grpc.insecure_channel(args.grpc)
    stub = pb_grpc.SongRecommenderStub(channel)
    request = pb.RecommendRequest(image=image, top_k=args.top_k, explain=True)
    host, port = args.http.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def grpc_call():
        stub.Recommend(request, timeout=30)

    def http_call():
        conn.request("POST", f"/v1/recommend?top_k={args.top_k}&explain=true", body=image,
                     headers={"Content-Type": ctype})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"HTTP {r.status}: {body[:200]!r}")

    results = {}
    for name, call in (("grpc", grpc_call), ("http", http_call)):
        for _ in range(5):  # warm-up
            call()
        ms = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            call()
            ms.append((time.perf_counter() - t0) * 1000)
        results[name] = summary(name, ms)
    print(f"HTTP gateway adds {results['http'] - results['grpc']:.2f} ms at p50 "
          f"({len(image)} byte image, top_k {args.top_k}, explain on)")


if __name__ == "__main__":
    main()
