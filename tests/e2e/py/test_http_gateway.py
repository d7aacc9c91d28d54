"""HTTP/JSON gateway of the real i2s-server (POST /v1/recommend and friends):
the same answers as gRPC, every request form, every error, limits, auth,
metrics and shutdown."""

import json
import os
import socket
import unittest
import uuid

import i2s_testlib as t
from i2s_testlib import http

import grpc
from image2song.v1 import image2song_pb2 as pb
from image2song.v1 import image2song_pb2_grpc as pb_grpc


def multipart(fields):
    """fields: list of (name, filename or None, bytes). Returns (type, body)."""
    boundary = "----i2s" + uuid.uuid4().hex
    out = b""
    for name, filename, data in fields:
        out += f"--{boundary}\r\n".encode()
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename:
            disp += f'; filename="{filename}"'
        out += disp.encode() + b"\r\n"
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


class HttpGatewayTest(t.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.base = cls.server.http_base
        cls.channel = grpc.insecure_channel(cls.server.grpc_target)
        cls.stub = pb_grpc.SongRecommenderStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        super().tearDownClass()

    def post(self, query, content_type, body, headers=None):
        h = {"Content-Type": content_type} if content_type else {}
        h.update(headers or {})
        status, hdrs, data = http("POST", f"{self.base}/v1/recommend{query}", body, h)
        return status, hdrs, json.loads(data)

    def grpc_answer(self, image, top_k=5):
        return self.stub.Recommend(pb.RecommendRequest(image=image, top_k=top_k, explain=True),
                                   timeout=30)

    def test_raw_image_matches_the_grpc_answer(self):
        for name, tag, top_two in [("blue.png", "ocean", ["sea-01", "sea-02"]),
                                   ("red.jpg", "fire", ["fire-01", "fire-02"]),
                                   ("green.webp", "forest", ["forest-01", "forest-02"])]:
            with self.subTest(image=name):
                image = t.read(t.asset("images", name))
                status, hdrs, body = self.post("?top_k=5", "image/" + name.split(".")[1], image)
                self.assertEqual(status, 200, body)
                self.assertTrue(hdrs["Content-Type"].startswith("application/json"))
                self.assertEqual(body["tags"][0]["label"], tag)
                self.assertEqual(sorted(m["song_id"] for m in body["matches"][:2]), top_two)
                self.assertEqual([m["rank"] for m in body["matches"]], [1, 2, 3, 4, 5])
                # explain is on by default over HTTP: the reason is there.
                self.assertTrue(body["matches"][0]["explanation"]["lines"])
                self.assertTrue(body["matches"][0]["explanation"]["matched_tags"])
                # Which channel found the song, and the lyric words behind it.
                self.assertGreaterEqual(body["matches"][0]["explanation"]["dense_rank"], 1)
                self.assertTrue(body["matches"][0]["explanation"]["dense_words"])
                grpc_ids = [m.song_id for m in self.grpc_answer(image).matches]
                self.assertEqual([m["song_id"] for m in body["matches"]], grpc_ids)
                self.assertEqual(body["index_version"], "test-bundle-1")

    def test_image_mood_in_the_json(self):
        image = t.read(t.asset("images", "red.jpg"))
        status, _, body = self.post("?top_k=3", "image/jpeg", image)
        self.assertEqual(status, 200, body)
        mood = body["image_mood"]
        self.assertTrue(-1 <= mood["valence"] <= 1, mood)
        self.assertTrue(-1 <= mood["arousal"] <= 1, mood)
        self.assertTrue(1 <= len(mood["words"]) <= 2, mood)
        answer = self.grpc_answer(image, top_k=3).image_mood
        self.assertAlmostEqual(mood["valence"], answer.valence, places=5)
        self.assertEqual(mood["words"], list(answer.words))

    def test_multipart_and_json_forms(self):
        blue = t.read(t.asset("images", "blue.png"))
        red = t.read(t.asset("images", "red.jpg"))
        ctype, body = multipart([("image", "blue.png", blue), ("top_k", None, b"3"),
                                 ("genres", None, b"folk")])
        status, _, answer = self.post("?explain=false", ctype, body)
        self.assertEqual(status, 200, answer)
        self.assertTrue(1 <= len(answer["matches"]) <= 3, answer)
        for m in answer["matches"]:
            status, _, data = http("GET", f"{self.base}/v1/songs/{m['song_id']}")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(data)["song"]["genre"], "folk")
        self.assertEqual(answer["tags"][0]["label"], "ocean")
        self.assertNotIn("explanation", answer["matches"][0])  # explain=false
        # Two pictures in one multipart request: tags from both images.
        ctype, body = multipart([("image", "a.png", blue), ("image", "b.jpg", red)])
        status, _, answer = self.post("", ctype, body)
        self.assertEqual(status, 200, answer)
        labels = {tg["label"] for tg in answer["tags"]}
        self.assertTrue({"ocean", "fire"} <= labels, labels)
        # Proto JSON body, images as base64.
        import base64
        doc = {"image": base64.b64encode(red).decode(), "top_k": 2}
        status, _, answer = self.post("", "application/json", json.dumps(doc).encode())
        self.assertEqual(status, 200, answer)
        self.assertEqual(sorted(m["song_id"] for m in answer["matches"]), ["fire-01", "fire-02"])

    def test_errors_have_http_status_grpc_code_and_message(self):
        png = t.read(t.asset("images", "blue.png"))
        cases = [
            # (query, content type, body, http status, grpc status, message part)
            ("", "image/png", png[:60], 400, "INVALID_ARGUMENT", "truncated PNG"),
            ("", "image/png", b"GIF89a" + b"\0" * 40, 400, "INVALID_ARGUMENT", "GIF"),
            ("", "image/png", b"", 400, "INVALID_ARGUMENT", "image is empty"),
            ("?top_k=500", "image/png", png, 400, "INVALID_ARGUMENT", "top_k"),
            ("?colour=red", "image/png", png, 400, "INVALID_ARGUMENT", "unknown parameter"),
            ("?text=%zz", "image/png", png, 400, "INVALID_ARGUMENT", "percent escape"),
            ("", "text/plain", b"hello", 415, "UNIMPLEMENTED", "text/plain"),
            ("", "multipart/form-data; boundary=abc", b"--abc\r\nbroken", 400,
             "INVALID_ARGUMENT", "multipart"),
            ("", "application/json", b"{not json", 400, "INVALID_ARGUMENT", "JSON"),
        ]
        for query, ctype, body, want_http, want_code, want_text in cases:
            with self.subTest(query=query, ctype=ctype, want=want_text):
                status, _, answer = self.post(query, ctype, body)
                self.assertEqual(status, want_http, answer)
                self.assertEqual(answer["error"]["status"], want_code)
                self.assertIn(want_text, answer["error"]["message"])

        status, hdrs, data = http("GET", f"{self.base}/v1/recommend")
        self.assertEqual(status, 405)
        self.assertIn("POST", hdrs.get("Allow", ""))
        status, _, data = http("GET", f"{self.base}/no/such/path")
        self.assertEqual(status, 404)
        self.assertIn("no such path", json.loads(data)["error"]["message"])

    def test_song_info_health_and_page(self):
        status, _, data = http("GET", f"{self.base}/v1/songs/sea-01")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["song"]["id"], "sea-01")
        status, _, data = http("GET", f"{self.base}/v1/songs/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(data)["error"]["status"], "NOT_FOUND")
        status, _, data = http("GET", f"{self.base}/v1/info")
        self.assertEqual(status, 200)
        info = json.loads(data)
        self.assertEqual(info["index_version"], "test-bundle-1")
        self.assertGreater(int(info["song_count"]), 0)
        status, _, data = http("GET", f"{self.base}/healthz")
        self.assertEqual((status, json.loads(data)), (200, {"status": "SERVING"}))
        status, hdrs, data = http("GET", f"{self.base}/")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
        self.assertIn("default-src 'none'", hdrs["Content-Security-Policy"])
        self.assertIn(b"<title>image2song</title>", data)
        self.assertIn(b'fetch("/v1/recommend?', data)

    def test_http_calls_are_counted(self):
        before = self.server.metrics()
        png = t.read(t.asset("images", "blue.png"))
        self.assertEqual(self.post("", "image/png", png)[0], 200)
        self.assertEqual(self.post("", "image/png", b"junk")[0], 400)
        after = self.server.metrics()

        def delta(prefix):
            return (t.metric_value(after, prefix) or 0) - (t.metric_value(before, prefix) or 0)
        self.assertEqual(delta('i2s_http_requests_total{route="recommend",status="200"}'), 1)
        self.assertEqual(delta('i2s_http_requests_total{route="recommend",status="400"}'), 1)
        # They are Recommend calls of the service too (same queue, same metrics).
        self.assertEqual(delta('i2s_requests_total{code="OK",method="Recommend"}'), 1)
        self.assertEqual(delta('i2s_requests_total{code="INVALID_ARGUMENT",method="Recommend"}'), 1)


class HttpLimitsAndAuthTest(unittest.TestCase):
    def test_body_limit_token_and_shutdown(self):
        token = t.read(t.asset("tls", "token")).decode().strip()
        server = t.Server(f"--auth_token_file={t.asset('tls', 'token')}",
                          "--max_receive_bytes=200000")
        try:
            base = server.http_base
            png = t.read(t.asset("images", "blue.png"))
            status, _, data = http("POST", f"{base}/v1/recommend", png,
                                   {"Content-Type": "image/png"})
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(data)["error"]["status"], "UNAUTHENTICATED")
            status, _, data = http("POST", f"{base}/v1/recommend", png,
                                   {"Content-Type": "image/png", "Authorization": "Bearer wrong"})
            self.assertEqual(status, 401)
            auth = {"Content-Type": "image/png", "Authorization": f"Bearer {token}"}
            status, _, data = http("POST", f"{base}/v1/recommend", png, auth)
            self.assertEqual(status, 200, data)
            self.assertIn(json.loads(data)["matches"][0]["song_id"], ("sea-01", "sea-02"))
            # Over the body limit (--max_receive_bytes): 413 before reading it.
            status, _, data = http("POST", f"{base}/v1/recommend", b"\0" * 300000, auth)
            self.assertEqual(status, 413)
            self.assertIn("over the limit of 200000 bytes", json.loads(data)["error"]["message"])
            # Health needs no token (probes).
            self.assertEqual(http("GET", f"{base}/healthz")[0], 200)
            port = server.http_port
        finally:
            self.assertEqual(server.stop(), 0)
        # After shutdown the HTTP port is closed.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()

    def test_http_can_be_disabled(self):
        server = t.Server("--http_listen=")
        try:
            self.assertEqual(server.http_port, 0)
            self.assertIn("SongRecommender", server.log())
            self.assertNotIn("HTTP gateway", server.log())
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
