"""The client examples of docs/api.md run against the real server: the C++ example
(client/examples/recommend.cc, built as i2s-example-recommend) and the Python
snippet under "Clients" (extracted from docs/api.md and executed)."""

import os
import re
import subprocess
import sys
import textwrap
import unittest

import i2s_testlib as t

SOURCE = t.env("I2S_SOURCE_DIR")


class ExamplesTest(t.ServerTestCase):
    def test_cpp_example(self):
        binary = os.path.join(os.path.dirname(t.env("I2S_CLIENT_BIN")), "i2s-example-recommend")
        p = subprocess.run([binary, self.server.grpc_target, t.asset("images", "green.webp")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith("tag forest "), p.stdout)
        self.assertRegex(p.stdout, r"\n1\. \S.* - .*\(forest-0[12], score ")
        self.assertIn("   forest -> \"", p.stdout)
        self.assertIn("   | ", p.stdout)
        self.assertEqual(lines[-1], "index test-bundle-1")
        bad = os.path.join(self.server.dir.name, "bad.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
        p = subprocess.run([binary, self.server.grpc_target, bad], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("error 3: "), p.stderr)

    def test_docs_python_example(self):
        with open(os.path.join(SOURCE, "docs", "api.md"), encoding="utf-8") as f:
            doc = f.read()
        clients = doc[doc.index("\n## Clients\n"):]
        code = textwrap.dedent(re.search(r"```python\n(.*?)```", clients, re.S).group(1))
        code = code.replace('"localhost:50051"', repr(self.server.grpc_target)) \
                   .replace('"beach.jpg"', repr(t.asset("images", "blue.png")))
        self.assertIn(self.server.grpc_target, code)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, cwd=SOURCE,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                               [t.env("I2S_PYTHON_STUBS"), os.path.join(SOURCE, "client", "python")])))
        self.assertEqual(p.returncode, 0, p.stderr)
        first = p.stdout.splitlines()[0]
        self.assertRegex(first, r"^1 .+ \[.+\]$")  # rank, title, lyric lines
        self.assertIn("sea-0", subprocess.run(
            [sys.executable, "-c", code.replace("m.title", "m.song_id")], capture_output=True,
            text=True, timeout=60, cwd=SOURCE,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                [t.env("I2S_PYTHON_STUBS"), os.path.join(SOURCE, "client", "python")]))).stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
