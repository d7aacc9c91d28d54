"""The web page end to end in headless Chromium (Debian's chromium +
playwright-core from npm, pinned by tests/web/package-lock.json and installed
into $I2S_CACHE/node-web): tests/web/page_test.mjs drops an image, checks the
tags and ranked songs with their lyric lines against the server's answer,
an error, and writes a screenshot (I2S_ARTIFACTS/web_page.png)."""

import hashlib
import os
import shutil
import subprocess
import sys
import unittest

import i2s_testlib as t

WEB = os.path.join(t.env("I2S_SOURCE_DIR"), "tests", "web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def node_modules():
    """npm ci of tests/web into the cache when package(-lock).json changed."""
    cache = os.environ.get("I2S_CACHE") or os.path.expanduser("~/.cache/image2song")
    prefix = os.path.join(cache, "node-web")
    key = hashlib.sha256(b"".join(t.read(os.path.join(WEB, f))
                                  for f in ("package.json", "package-lock.json"))).hexdigest()
    stamp = os.path.join(prefix, ".key")
    if os.path.exists(stamp) and open(stamp).read() == key and \
            os.path.isdir(os.path.join(prefix, "node_modules", "playwright-core")):
        return prefix
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(prefix)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(WEB, f), prefix)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"],
                   cwd=prefix, check=True, timeout=600)
    with open(stamp, "w") as f:
        f.write(key)
    return prefix


class WebPageTest(unittest.TestCase):
    def test_drop_an_image_see_tags_songs_and_lines(self):
        if not os.path.exists(CHROMIUM) or not shutil.which("node"):
            raise unittest.SkipTest(f"needs {CHROMIUM} and node (tools/install_deps.sh)")
        prefix = node_modules()
        artifacts = os.environ.get("I2S_ARTIFACTS") or os.getcwd()
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "web_page.png")
        if os.path.exists(shot):
            os.remove(shot)
        # The script imports playwright-core from the cache's node_modules.
        script = os.path.join(prefix, "page_test.mjs")
        shutil.copy(os.path.join(WEB, "page_test.mjs"), script)
        # The bundle with lyric moods, so that songs show theirs.
        with t.Server(f"--bundle={t.asset('bundle_mood')}") as server:
            p = subprocess.run(["node", script], capture_output=True, text=True, timeout=240,
                               env=dict(os.environ, I2S_HTTP_BASE=server.http_base,
                                        I2S_SCREENSHOT=shot, CHROMIUM=CHROMIUM))
            sys.stdout.write(p.stdout)
            self.assertEqual(p.returncode, 0, f"{p.stdout}\n{p.stderr}\nserver log:\n{server.log()}")
        png = t.read(shot)
        self.assertTrue(png.startswith(b"\x89PNG"))
        self.assertGreater(len(png), 10000)
        print(f"screenshot: {shot} ({len(png)} bytes)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
