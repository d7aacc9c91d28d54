"""The ghz load-test configuration (deploy/ghz/recommend.json) is usable: its
proto and call exist, and the binary message tools/bench/ghz_request.py writes is
exactly what ghz sends, answered OK by the real server (sent here as raw
bytes, as ghz does). ghz itself is not packaged for Debian."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import i2s_testlib as t

import grpc
from image2song.v1 import image2song_pb2 as pb

SOURCE = t.env("I2S_SOURCE_DIR")
# Keys ghz (0.1xx) reads from a JSON config file.
GHZ_KEYS = {"proto", "protoset", "import-paths", "call", "host", "insecure", "cacert", "cert",
            "key", "cname", "skipTLS", "binary-file", "data", "data-file", "metadata",
            "metadata-file", "rps", "concurrency", "connections", "total", "duration",
            "max-duration", "timeout", "dial-timeout", "keepalive", "name", "tags", "format",
            "output", "load-schedule", "load-start", "load-end", "load-step",
            "load-step-duration", "concurrency-schedule", "reflect-metadata"}


class GhzConfigTest(unittest.TestCase):
    def test_config_and_request_work_against_the_server(self):
        with open(os.path.join(SOURCE, "deploy", "ghz", "recommend.json")) as f:
            config = json.load(f)
        self.assertEqual(set(config) - GHZ_KEYS, set(), "keys ghz does not know")
        self.assertTrue(os.path.exists(os.path.join(SOURCE, config["proto"])))
        package_service, method = config["call"].rsplit(".", 1)
        service = pb.DESCRIPTOR.services_by_name[package_service.split(".")[-1]]
        self.assertEqual(service.full_name, package_service)
        self.assertIn(method, service.methods_by_name)

        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "recommend.bin")
            subprocess.run([sys.executable, os.path.join(SOURCE, "tools", "bench", "ghz_request.py"),
                            t.asset("images", "red.jpg"), "--top_k=3", f"--out={out}"],
                           check=True, timeout=60)
            body = t.read(out)
        with t.Server() as server, grpc.insecure_channel(server.grpc_target) as channel:
            call = channel.unary_unary("/" + package_service + "/" + method,
                                       request_serializer=None,
                                       response_deserializer=pb.RecommendResponse.FromString)
            answer = call(body, timeout=30, metadata=[("x-load-test", "ghz-1")])
        self.assertEqual(len(answer.matches), 3)
        self.assertEqual(answer.tags[0].label, "fire")


if __name__ == "__main__":
    unittest.main(verbosity=2)
