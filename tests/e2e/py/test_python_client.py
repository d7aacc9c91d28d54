"""The Python client example (client/python/i2s_client.py, Debian's
python3-grpcio) against the real i2s-server: as a module and as a command,
plain, with a token and over mutual TLS."""

import json
import os
import subprocess
import sys
import unittest

import i2s_testlib as t

import grpc

sys.path.insert(0, os.path.join(t.env("I2S_SOURCE_DIR"), "client", "python"))
import i2s_client  # noqa: E402

CLIENT = os.path.join(t.env("I2S_SOURCE_DIR"), "client", "python", "i2s_client.py")


def run_client(*args):
    p = subprocess.run([sys.executable, CLIENT, *args], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


class PythonClientTest(t.ServerTestCase):
    def test_module_api(self):
        with i2s_client.Image2SongClient(self.server.grpc_target) as client:
            self.assertTrue(client.serving())
            answer = client.recommend(t.read(t.asset("images", "red.jpg")), top_k=3)
            self.assertEqual(sorted(m.song_id for m in answer.matches[:2]), ["fire-01", "fire-02"])
            self.assertEqual([m.rank for m in answer.matches], [1, 2, 3])
            self.assertEqual(answer.tags[0].label, "fire")
            self.assertTrue(answer.matches[0].explanation.lines)
            # Several frames, one answer; filters.
            frames = [t.read(t.asset("images", n)) for n in ("blue.png", "red.jpg")]
            answer = client.recommend(frames, top_k=5, exclude=["sea-01"])
            ids = [m.song_id for m in answer.matches]
            self.assertNotIn("sea-01", ids)
            self.assertTrue({"ocean", "fire"} <= {tg.label for tg in answer.tags})
            self.assertEqual(client.song("sea-01").id, "sea-01")
            self.assertEqual(client.info().index_version, "test-bundle-1")
            with self.assertRaises(grpc.RpcError) as err:
                client.recommend(b"\x89PNG\r\n\x1a\n broken")
            self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            with self.assertRaises(grpc.RpcError) as err:
                client.song("no-such-song")
            self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_command_line(self):
        target = f"--server={self.server.grpc_target}"
        code, out, err = run_client(target, "--json", "recommend", "--top-k=2",
                                    t.asset("images", "green.webp"))
        self.assertEqual(code, 0, err)
        answer = json.loads(out)
        self.assertEqual(sorted(m["song_id"] for m in answer["matches"]), ["forest-01", "forest-02"])
        code, out, err = run_client(target, "recommend", t.asset("images", "blue.png"))
        self.assertEqual(code, 0, err)
        self.assertIn(" 1. ", out)
        self.assertIn("because: ocean", out)
        code, out, err = run_client(target, "health")
        self.assertEqual((code, out.strip()), (0, "SERVING"))
        code, out, err = run_client(target, "info")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["index_version"], "test-bundle-1")
        bad = os.path.join(self.server.dir.name, "bad.jpg")
        with open(bad, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 truncated")
        code, out, err = run_client(target, "recommend", bad)
        self.assertEqual(code, 1)
        self.assertIn("INVALID_ARGUMENT", err)
        self.assertIn("JPEG", err)


class PythonClientSecurityTest(unittest.TestCase):
    def test_token_and_mutual_tls(self):
        tls = lambda name: t.asset("tls", name)  # noqa: E731
        server = t.Server(f"--auth_token_file={tls('token')}",
                          f"--tls_cert_file={tls('server.crt')}",
                          f"--tls_key_file={tls('server.key')}",
                          f"--tls_client_ca_file={tls('ca.crt')}")
        try:
            target = f"--server=localhost:{server.grpc_port}"
            image = t.asset("images", "blue.png")
            mtls = [f"--tls-ca={tls('ca.crt')}", f"--tls-cert={tls('client.crt')}",
                    f"--tls-key={tls('client.key')}"]
            code, out, err = run_client(target, *mtls, "recommend", image)
            self.assertEqual(code, 1)
            self.assertIn("UNAUTHENTICATED", err)
            code, out, err = run_client(target, *mtls, f"--token-file={tls('token')}",
                                        "--json", "recommend", "--top-k=1", image)
            self.assertEqual(code, 0, err)
            self.assertIn(json.loads(out)["matches"][0]["song_id"], ("sea-01", "sea-02"))
            # Without a client certificate the handshake fails.
            code, out, err = run_client(target, f"--tls-ca={tls('ca.crt')}",
                                        f"--token-file={tls('token')}", "--timeout=5",
                                        "recommend", image)
            self.assertEqual(code, 1)
            self.assertIn("UNAVAILABLE", err)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
