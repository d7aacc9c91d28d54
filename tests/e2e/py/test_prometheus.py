"""Debian's prometheus scrapes a live i2s-server with the deployment's own
configuration (deploy/prometheus/prometheus.yml + alerts.yml, target pointed
at the test server): the counts read back through Prometheus' HTTP API equal
the calls made, the alert rules load, and every query of the Grafana
dashboard (deploy/grafana/dashboards/image2song.json) returns data."""

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import i2s_testlib as t

import grpc
import yaml
from image2song.v1 import image2song_pb2 as pb
from image2song.v1 import image2song_pb2_grpc as pb_grpc

DEPLOY = os.path.join(t.env("I2S_SOURCE_DIR"), "deploy")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_queries():
    """(panel title, expr) of every target, rows included."""
    with open(os.path.join(DEPLOY, "grafana", "dashboards", "image2song.json")) as f:
        doc = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for target in p.get("targets", []):
                if target.get("expr"):
                    expr = target["expr"].replace("$__rate_interval", "1m") \
                                         .replace("$__interval", "1m")
                    out.append((p.get("title", "?"), expr))
    walk(doc.get("panels", []))
    return out


class PrometheusTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(PROMETHEUS):
            raise unittest.SkipTest("prometheus is not installed (tools/install_deps.sh)")
        self.tmp = tempfile.TemporaryDirectory(prefix="i2s-prom-")
        # --batching so the batch-size panel has data.
        self.server = t.Server("--batching", "--batch_delay_us=500")
        self.port = free_port()
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            config = yaml.safe_load(f)
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        jobs = [j for j in config["scrape_configs"] if j["job_name"] == "image2song"]
        self.assertEqual(len(jobs), 1, "one scrape job named image2song")
        jobs[0]["scrape_interval"] = "1s"
        jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{self.server.metrics_port}"]}]
        config["scrape_configs"] = jobs
        config["rule_files"] = [os.path.join(DEPLOY, "prometheus", os.path.basename(f))
                                for f in config.get("rule_files", [])]
        config_path = os.path.join(self.tmp.name, "prometheus.yml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.prom_log = open(os.path.join(self.tmp.name, "prometheus.log"), "wb")
        self.prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config_path}",
             f"--storage.tsdb.path={self.tmp.name}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.prom_log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.prom.poll() is not None or time.time() > deadline:
                self.fail(f"prometheus did not start:\n{self.prom_output()}")
            time.sleep(0.2)

    def tearDown(self):
        self.prom.terminate()
        self.prom.wait(30)
        self.prom_log.close()
        self.assertEqual(self.server.stop(), 0)
        self.tmp.cleanup()

    def prom_output(self):
        self.prom_log.flush()
        return open(os.path.join(self.tmp.name, "prometheus.log"), errors="replace").read()

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        self.assertEqual(doc["status"], "success", doc)
        return doc["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def wait_for(self, expr, want, timeout=40):
        """Polls until the single sample of `expr` equals `want`."""
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            result = self.query(expr)
            if result:
                value = float(result[0]["value"][1])
                if value == want:
                    return
            time.sleep(0.5)
        self.fail(f"{expr} = {value}, want {want}\n{self.prom_output()[-3000:]}")

    def test_prometheus_reads_the_servers_metrics(self):
        # Traffic starts after the first scrape and lasts several scrapes, so
        # every rate() on the dashboard sees it.
        self.wait_for('up{job="image2song"}', 1)
        ok_calls = bad_calls = http_calls = 0
        with grpc.insecure_channel(self.server.grpc_target) as channel:
            stub = pb_grpc.SongRecommenderStub(channel)
            images = [t.read(t.asset("images", n)) for n in ("blue.png", "red.jpg", "green.webp")]
            start = time.time()
            reloaded = False
            while time.time() - start < 6:
                stub.Recommend(pb.RecommendRequest(image=images[ok_calls % 3], top_k=3),
                               timeout=30)
                ok_calls += 1
                if ok_calls % 4 == 0:
                    with self.assertRaises(grpc.RpcError):
                        stub.Recommend(pb.RecommendRequest(image=b"GIF89a...."), timeout=30)
                    bad_calls += 1
                if ok_calls % 5 == 0:
                    status, _, _ = t.http("POST", f"{self.server.http_base}/v1/recommend",
                                          images[0], {"Content-Type": "image/png"})
                    self.assertEqual(status, 200)
                    http_calls += 1
                if not reloaded and time.time() - start > 2:
                    # A hot reload of the same bundle for the bundle-load panel.
                    self.server.process.send_signal(signal.SIGHUP)
                    reloaded = True
                time.sleep(0.02)
        print(f"calls: {ok_calls} OK + {http_calls} over HTTP, {bad_calls} INVALID_ARGUMENT")

        # Counts read back through Prometheus equal the calls made.
        self.wait_for('sum(i2s_requests_total{job="image2song",method="Recommend",code="OK"})',
                      ok_calls + http_calls)
        self.wait_for('i2s_requests_total{method="Recommend",code="INVALID_ARGUMENT"}', bad_calls)
        self.wait_for('i2s_http_requests_total{route="recommend",status="200"}', http_calls)
        self.wait_for('i2s_bundle_info{version="test-bundle-1"}', 1)
        self.wait_for('i2s_bundle_loads_total{result="ok"}', 1)
        self.wait_for('sum(i2s_stage_duration_seconds_count{stage="decode"})',
                      ok_calls + http_calls)
        targets = self.api("targets")["activeTargets"]
        self.assertEqual([tg["health"] for tg in targets], ["up"])

        # The alert rules loaded and evaluate (none fires on a healthy server).
        groups = self.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
        self.assertGreaterEqual(len(rules), 4, [r["name"] for r in rules])
        for r in rules:
            self.assertIn(r["health"], ("ok", "unknown"), r)
            self.assertNotEqual(r["state"], "firing", r)
        print("alert rules:", ", ".join(f"{r['name']}={r['state']}" for r in rules))

        # Every dashboard query returns data from this live server: finite
        # values, and traffic in every rate() but the server-error ratio
        # (there were no server errors).
        queries = dashboard_queries()
        self.assertGreaterEqual(len(queries), 8)
        bad = []
        for title, expr in queries:
            result = self.query(expr)
            values = [float(r["value"][1]) for r in result]
            shown = [(r["metric"], r["value"][1]) for r in result][:5]
            print(f"dashboard | {title} | {expr}\n    -> {shown}")
            if not values or any(math.isnan(v) for v in values):
                bad.append(f"{title}: {expr} -> {shown}")
            elif ("rate(" in expr or "increase(" in expr) and "code!~" not in expr and \
                    max(values) <= 0:
                bad.append(f"{title}: {expr} -> {shown} (no traffic seen)")
        self.assertEqual(bad, [], "dashboard queries without data")
        # One call at a time: every batch had one image, and the dashboard says so.
        p50 = self.query('histogram_quantile(0.5, sum by (model, le) '
                         '(rate(i2s_batch_size_bucket[1m])))')
        self.assertEqual([float(r["value"][1]) for r in p50], [1.0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
