#!/usr/bin/env python3
"""Holds stalled HTTP connections open against a running i2s-server and times
what a normal client gets meanwhile (prints numbers; not a test).

    /usr/bin/python3 tools/bench/http_slow_clients.py --http=127.0.0.1:8080 \
        [--stalled=64] [--image=photo.jpg] [--probes=20] [--sources=8]

Half of the stalled connections send half a request head, the other half a
complete head with Content-Length 100000 and 10 bytes of body; then they
send nothing. They come from --sources loopback addresses (127.0.0.2, ...)
so a per-client bound does not refuse them all (use --sources=1 to see it
refuse). A normal client then sends --probes GET /healthz and, with
--image, POST /v1/recommend, each on a new connection, and reports the
slowest answer; a probe that gets no answer within --timeout counts as
failed. At the end it reports how many stalled connections the server
closed and how long after they were opened.
"""

import argparse
import http.client
import socket
import sys
import time


def stall(host, port, i, source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(10)
    s.connect((host, port))
    if i % 2 == 0:
        s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Ty")
    else:
        s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 100000\r\n\r\n0123456789")
    return s


def probe(host, port, method, path, body, ctype, timeout):
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status, (time.perf_counter() - t0) * 1000
    except OSError as e:
        return f"{type(e).__name__}", (time.perf_counter() - t0) * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", required=True)
    p.add_argument("--stalled", type=int, default=64)
    p.add_argument("--sources", type=int, default=8)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--image")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--wait_close", type=float, default=0,
                   help="then wait up to this many seconds for the server to close them")
    args = p.parse_args()
    host, port = args.http.rsplit(":", 1)
    port = int(port)
    opened = time.monotonic()
    socks = []
    for i in range(args.stalled):
        try:
            socks.append(stall(host, port, i, f"127.0.0.{2 + i % args.sources}"))
        except OSError as e:
            print(f"stalled connection {i}: {e}")
    print(f"{len(socks)} stalled connections open")
    image = open(args.image, "rb").read() if args.image else None
    ctype = "image/png" if args.image and args.image.endswith(".png") else "image/jpeg"
    for name, method, path, body in (("healthz", "GET", "/healthz", None),
                                     ("recommend", "POST", "/v1/recommend?top_k=5", image)):
        if name == "recommend" and image is None:
            continue
        results = [probe(host, port, method, path, body, ctype if body else None, args.timeout)
                   for _ in range(args.probes)]
        ok = [ms for status, ms in results if status == 200]
        bad = [status for status, _ in results if status != 200]
        print(f"{name:9s} {len(ok)}/{len(results)} answered 200"
              + (f", p50 {sorted(ok)[len(ok) // 2]:.1f} ms, max {max(ok):.1f} ms" if ok else "")
              + (f"; failed: {sorted(set(map(str, bad)))}" if bad else ""))
    if args.wait_close > 0:
        closed = {}
        deadline = time.monotonic() + args.wait_close
        for s in socks:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                while s.recv(65536):
                    pass
                closed[s] = time.monotonic() - opened
            except OSError:
                pass
        if closed:
            print(f"server closed {len(closed)}/{len(socks)} stalled connections, "
                  f"{min(closed.values()):.1f}-{max(closed.values()):.1f} s after they opened")
        else:
            print(f"server closed none of {len(socks)} within {args.wait_close} s")
    for s in socks:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
