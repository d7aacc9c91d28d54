"""Slow and stalled HTTP clients against the real i2s-server (issue 13): 4 x
--http_threads stalled connections while a normal client keeps getting
answers, stalled connections closed at their deadline, the bounds per client
and in total, refusals that close the connection, and the HTTP drain on
SIGTERM. Waits poll with time limits; nothing sleeps for timing."""

import json
import os
import selectors
import signal
import socket
import time
import unittest
import weakref

import i2s_testlib as t

HALF_HEAD = b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Ty"
HEAD_AND_PART = (b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 b"Content-Length: 100000\r\n\r\n0123456789")


def connect(port, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


_PENDING = weakref.WeakKeyDictionary()  # bytes read past a reply, per socket


def read_reply(sock, timeout=10, head=False):
    """Reads one HTTP reply: (status, headers with lower-case names, body).
    Status 0 when the connection ended first."""
    sock.settimeout(timeout)
    data = _PENDING.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, data
        data += chunk
    head_bytes, rest = data.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    _PENDING[sock] = rest[length:]
    return status, headers, rest[:length]


def eof_within(sock, seconds):
    """True when the server closes `sock` (no more bytes) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return False


def request(path, body=None, ctype="image/png", extra=b""):
    method = b"POST" if body is not None else b"GET"
    out = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra
    if body is not None:
        out += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n".encode()
    return out + b"\r\n" + (body or b"")


def wait_for(what, condition, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def metric(server, name):
    """A sample's value; `name` is the whole series (labels included)."""
    return t.metric_value(server.metrics(), name + " ") or 0


class StalledClientsTest(unittest.TestCase):
    THREADS = 16
    HEADER_S = 3.0
    BODY_S = 4.0

    def test_stalled_clients_do_not_lock_out_the_gateway(self):
        server = t.Server(f"--http_threads={self.THREADS}",
                          f"--http_header_timeout_ms={int(self.HEADER_S * 1000)}",
                          f"--http_body_timeout_ms={int(self.BODY_S * 1000)}")
        stalled = []
        try:
            png = t.read(t.asset("images", "blue.png"))
            # 4 x --http_threads stalled connections from 8 loopback addresses:
            # half a head, or a whole head and 10 of 100000 body bytes.
            for i in range(4 * self.THREADS):
                opened = time.monotonic()
                s = connect(server.http_port, f"127.0.0.{2 + i % 8}")
                s.sendall(HALF_HEAD if i % 2 == 0 else HEAD_AND_PART)
                stalled.append((s, opened, i % 2 == 0))
            wait_for("the server to hold the stalled connections",
                     lambda: metric(server, "i2s_http_connections") >= 4 * self.THREADS)

            # A normal client keeps getting answers within a second each.
            slowest = 0
            for _ in range(10):
                for path, body in (("/healthz", None), ("/v1/recommend?top_k=3", png)):
                    start = time.monotonic()
                    status, _, data = t.http("POST" if body else "GET",
                                             f"{server.http_base}{path}", body,
                                             {"Content-Type": "image/png"} if body else {},
                                             timeout=5)
                    elapsed = time.monotonic() - start
                    slowest = max(slowest, elapsed)
                    self.assertEqual(status, 200, data)
                    self.assertLess(elapsed, 1.0, path)
                    if body:
                        self.assertTrue(json.loads(data)["matches"])
            print(f"slowest answer with {len(stalled)} stalled connections: "
                  f"{slowest * 1000:.1f} ms")
            # ... while all of them were still held.
            self.assertEqual(metric(server, 'i2s_http_connections_refused_total{reason="header_timeout"}'), 0)
            self.assertGreaterEqual(metric(server, "i2s_http_connections"), 4 * self.THREADS)

            # Each is closed at its deadline with a 408: the heads after
            # --http_header_timeout_ms, the bodies after --http_body_timeout_ms.
            selector = selectors.DefaultSelector()
            for s, opened, half in stalled:
                s.setblocking(False)
                selector.register(s, selectors.EVENT_READ, [opened, half, b""])
            closed = []
            deadline = time.monotonic() + self.BODY_S + 10
            while len(closed) < len(stalled) and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=1):
                    chunk = key.fileobj.recv(65536)
                    key.data[2] += chunk
                    if not chunk:
                        selector.unregister(key.fileobj)
                        closed.append((time.monotonic() - key.data[0], key.data[1], key.data[2]))
            self.assertEqual(len(closed), len(stalled), "stalled connections left open")
            for after, half, data in closed:
                limit = self.HEADER_S if half else self.BODY_S
                self.assertTrue(data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data[:100])
                self.assertIn(b"Connection: close\r\n", data)
                self.assertIn(b"did not arrive within", data)
                self.assertGreaterEqual(after, limit - 0.05)
                self.assertLess(after, limit + 3)
            heads = [a for a, half, _ in closed if half]
            bodies = [a for a, half, _ in closed if not half]
            print(f"closed after {min(heads):.2f}-{max(heads):.2f} s (heads), "
                  f"{min(bodies):.2f}-{max(bodies):.2f} s (bodies)")
            self.assertEqual(metric(server, 'i2s_http_connections_refused_total{reason="header_timeout"}'),
                             2 * self.THREADS)
            self.assertEqual(metric(server, 'i2s_http_connections_refused_total{reason="body_timeout"}'),
                             2 * self.THREADS)
            self.assertEqual(metric(server, 'i2s_http_requests_total{route="recommend",status="408"}'),
                             2 * self.THREADS)
        finally:
            for s, _, _ in stalled:
                s.close()
            self.assertEqual(server.stop(), 0)

    def test_connections_are_bounded_per_client_and_in_total(self):
        server = t.Server("--http_max_connections_per_client=8", "--http_max_connections=12")
        held = []
        try:
            for _ in range(8):
                held.append(connect(server.http_port, "127.0.0.2"))
                held[-1].sendall(HALF_HEAD)
            wait_for("8 connections", lambda: metric(server, "i2s_http_connections") == 8)
            # The ninth from that address: 429, then the server closes it.
            over = connect(server.http_port, "127.0.0.2")
            over.sendall(request("/healthz"))
            status, headers, body = read_reply(over)
            self.assertEqual(status, 429)
            self.assertEqual(headers.get("connection"), "close")
            self.assertEqual(headers.get("retry-after"), "1")
            error = json.loads(body)["error"]
            self.assertEqual(error["status"], "RESOURCE_EXHAUSTED")
            self.assertIn("--http_max_connections_per_client", error["message"])
            self.assertTrue(eof_within(over, 2))
            # Other addresses are served.
            self.assertEqual(t.http("GET", f"{server.http_base}/healthz")[0], 200)
            wait_for("that client to leave", lambda: metric(server, "i2s_http_connections") == 8)
            for _ in range(4):
                held.append(connect(server.http_port, "127.0.0.3"))
                held[-1].sendall(HALF_HEAD)
            wait_for("12 connections", lambda: metric(server, "i2s_http_connections") == 12)
            # Over the total: 503 from any address.
            full = connect(server.http_port, "127.0.0.4")
            full.sendall(request("/healthz"))
            status, headers, body = read_reply(full)
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "1")
            self.assertIn("--http_max_connections", json.loads(body)["error"]["message"])
            self.assertTrue(eof_within(full, 2))
            self.assertEqual(metric(server, 'i2s_http_connections_refused_total{reason="client_limit"}'), 1)
            self.assertEqual(metric(server, 'i2s_http_connections_refused_total{reason="total_limit"}'), 1)
            # Slots free as clients leave.
            for s in held[:8]:
                s.close()
            wait_for("the slots to free", lambda: metric(server, "i2s_http_connections") == 4)
            again = connect(server.http_port, "127.0.0.2")
            again.sendall(request("/healthz"))
            self.assertEqual(read_reply(again)[0], 200)
            again.close()
        finally:
            for s in held:
                s.close()
            self.assertEqual(server.stop(), 0)


class RefusalsCloseTest(t.ServerTestCase):
    server_flags = ("--max_receive_bytes=200000",)

    def test_413_closes_the_connection_without_waiting_for_the_body(self):
        s = connect(self.server.http_port)
        start = time.monotonic()
        s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 300000\r\n\r\n" + b"\0" * 1000)
        status, headers, body = read_reply(s)
        self.assertEqual(status, 413)
        self.assertEqual(headers.get("connection"), "close")
        self.assertIn("over the limit of 200000 bytes", json.loads(body)["error"]["message"])
        self.assertTrue(eof_within(s, 1.0))
        print(f"413 and EOF {1000 * (time.monotonic() - start):.1f} ms after the request")
        self.assertLess(time.monotonic() - start, 1.0)
        s.close()
        # A client that sends the whole body first still reads the answer.
        s = connect(self.server.http_port)
        s.sendall(request("/v1/recommend", b"\0" * 300000))
        status, headers, _ = read_reply(s)
        self.assertEqual(status, 413)
        self.assertTrue(eof_within(s, 3))
        s.close()

    def test_other_refusals_close_and_good_requests_keep_alive(self):
        for raw, want in ((b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
                          (b"POST /v1/recommend HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
                          (b"GET /healthz HTTP/2.0\r\n\r\n", 505)):
            with self.subTest(raw=raw):
                s = connect(self.server.http_port)
                s.sendall(raw)
                status, headers, body = read_reply(s)
                self.assertEqual(status, want, body)
                self.assertEqual(headers.get("connection"), "close")
                self.assertIn("error", json.loads(body))
                self.assertTrue(eof_within(s, 2))
                s.close()
        # Answers, errors after reading the whole request included, keep the
        # connection; chunked bodies are read.
        png = t.read(t.asset("images", "blue.png"))
        s = connect(self.server.http_port)
        s.sendall(request("/healthz") + request("/v1/recommend?top_k=2", b"junk")
                  + request("/nope"))
        self.assertEqual(read_reply(s)[0], 200)
        status, headers, body = read_reply(s)
        self.assertEqual(status, 400)
        self.assertNotIn("connection", headers)
        self.assertEqual(read_reply(s)[0], 404)
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(png[i:i + 1000]), png[i:i + 1000])
                           for i in range(0, len(png), 1000)) + b"0\r\n\r\n"
        s.sendall(b"POST /v1/recommend?top_k=2 HTTP/1.1\r\nContent-Type: image/png\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        status, _, body = read_reply(s)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(json.loads(body)["matches"]), 2)
        s.close()


class HttpDrainTest(unittest.TestCase):
    def test_sigterm_answers_received_http_requests_then_exits_0(self):
        # slow_color.pt takes ~50 ms a call; one worker makes a queue.
        server = t.Server("--workers=1", models="models_slow.json")
        calls = 8
        try:
            png = t.read(t.asset("images", "blue.png"))
            idle = connect(server.http_port)
            idle.sendall(request("/healthz"))
            self.assertEqual(read_reply(idle)[0], 200)
            socks = [connect(server.http_port) for _ in range(calls)]
            for s in socks:
                s.sendall(request("/v1/recommend?top_k=3", png))
            # Once one answer is back the server holds the others.
            selector = selectors.DefaultSelector()
            for s in socks:
                selector.register(s, selectors.EVENT_READ)
            early = {key.fileobj for key, _ in selector.select(timeout=60)}
            self.assertTrue(early, "no answer")
            server.process.send_signal(signal.SIGTERM)
            # New connections are refused while the received requests run.
            refused_at = None
            deadline = time.monotonic() + 10
            while refused_at is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", server.http_port), timeout=2).close()
                except ConnectionRefusedError:
                    refused_at = time.monotonic()
            self.assertIsNotNone(refused_at, "the HTTP port stayed open after SIGTERM")
            answered_before = len(selector.select(timeout=0))
            print(f"{calls - answered_before} of {calls} HTTP calls unanswered when the port closed")
            # The idle kept-alive connection is closed.
            self.assertTrue(eof_within(idle, 5))
            # Every request received before SIGTERM gets its real answer.
            for s in socks:
                status, headers, body = read_reply(s, timeout=60)
                self.assertEqual(status, 200, body)
                if s not in early:  # answered during the drain
                    self.assertEqual(headers.get("connection"), "close")
                self.assertEqual(len(json.loads(body)["matches"]), 3)
                self.assertTrue(eof_within(s, 5))
            code = server.process.wait(60)
            self.assertEqual(code, 0, server.log())
            self.assertIn("received SIGTERM", server.log())
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
