"""Shared helpers for the Python end-to-end tests (tests/e2e/py/test_*.py).

They start the real i2s-server binary on free ports with the tiny generated
models and bundle (the CTest fixtures), like the C++ e2e tests (tests/e2e/) do.
Paths come from the environment CTest sets (tests/e2e/CMakeLists.txt):
I2S_SERVER_BIN, I2S_CLIENT_BIN, I2S_TEST_ASSETS, I2S_TEST_BUNDLE,
I2S_SOURCE_DIR, I2S_PYTHON_STUBS.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.environ.get("I2S_PYTHON_STUBS", ""))


def env(name):
    value = os.environ.get(name)
    if not value:
        raise unittest.SkipTest(f"{name} is not set (run through CTest)")
    return value


def asset(*parts):
    return os.path.join(env("I2S_TEST_ASSETS"), *parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Server:
    """i2s-server on 127.0.0.1 with free gRPC, metrics and HTTP ports."""

    def __init__(self, *flags, models="models.json"):
        self.dir = tempfile.TemporaryDirectory(prefix="i2s-e2e-py-")
        self.log_path = os.path.join(self.dir.name, "server.log")
        port_file = os.path.join(self.dir.name, "ports.json")
        argv = [env("I2S_SERVER_BIN"), "--listen=127.0.0.1:0",
                "--metrics_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                f"--models={asset(models)}", f"--bundle={env('I2S_TEST_BUNDLE')}",
                f"--port_file={port_file}", *flags]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        deadline = time.time() + 120
        while True:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    ports = json.load(f)
                break
            if self.process.poll() is not None or time.time() > deadline:
                raise AssertionError(f"i2s-server did not start:\n{self.log()}")
            time.sleep(0.05)
        self.grpc_port = ports["grpc_port"]
        self.metrics_port = ports["metrics_port"]
        self.http_port = ports["http_port"]
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.http_base = f"http://127.0.0.1:{self.http_port}"

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        code = self.process.returncode
        self.dir.cleanup()
        return code

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as r:
            return r.read().decode()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http(method, url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def metric_value(text, prefix):
    """The value of the first sample line starting with `prefix`, or None."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


class ServerTestCase(unittest.TestCase):
    """One i2s-server (flags: `server_flags`) shared by a test class; it must
    exit 0 on SIGTERM at the end."""

    server_flags = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.server_flags)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, f"i2s-server exit {code}"
