"""The chart's dashboard and alerts (charts/portico: dashboards/portico.json,
templates/prometheusrule.yaml) against real data: a bad day in the test bed
(5xx, a slow backend, a rejected Ingress, certificates from a Secret and
from Vault about to expire, a dead and a SERVFAILing DNS upstream, a Lease
held by a replica that is gone, a configuration nginx refuses, nginx down)
is scraped by the real Prometheus, and every dashboard query and every
alert expression must return a series. The rules pass `promtool check
rules`, and `promtool test rules` (tests/monitoring/alerts-test.yaml)
fires and resolves each alert."""
import base64
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import signal
import subprocess

import dns.rcode
import pytest
import yaml

import testbed
from testbed import certs
from testbed.chart import CHART, render
from testbed.controller import CONTROLLER, ControllerUnderTest, eventually
from testbed.scripted_dns import ScriptedDNS

NS = "team"
DASHBOARD = CHART / "dashboards" / "portico.json"
ALERT_TESTS = testbed.REPO / "tests" / "monitoring" / "alerts-test.yaml"
# Grafana's variables as "All" and a rate window the 1 s scrapes fill
GRAFANA_VARIABLES = {"$namespace": ".*", "$ingress": ".*",
                     "$__rate_interval": "1m"}


def rules(*values):
    """The groups of the chart's PrometheusRule, rendered with values."""
    docs = render("--set", "metrics.prometheusRule.enabled=true", *values)
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    return rule["spec"]


def alert_exprs():
    return {r["alert"]: r["expr"] for g in rules()["groups"]
            for r in g["rules"]}


def dashboard_exprs():
    """(panel title, expr with Grafana's variables replaced)."""
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"]
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            out.append((p["title"], expr))
    return out


def promtool(*args, cwd=None):
    return subprocess.run([testbed.PROMTOOL, *args], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)


# --- the rules and the dashboard, without a test bed -------------------------

def test_alert_rules_pass_promtool_check_and_their_unit_tests(tmp_path):
    with open(tmp_path / "rules.yaml", "w") as f:
        yaml.safe_dump(rules(), f, sort_keys=False)
    shutil.copy(ALERT_TESTS, tmp_path / "alerts-test.yaml")
    p = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert p.returncode == 0 and "SUCCESS: 9 rules found" in p.stdout, \
        p.stdout
    p = promtool("test", "rules", "alerts-test.yaml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout
    # every alert has a test that expects it to fire
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert tested == set(alert_exprs())


def test_alerts_can_be_turned_off_and_tuned_from_values():
    spec = rules("--set", "metrics.prometheusRule.alerts.leaderMissing."
                          "enabled=false",
                 "--set", "metrics.prometheusRule.alerts.certificateExpiry."
                          "days=30")
    names = {r["alert"]: r for g in spec["groups"] for r in g["rules"]}
    assert "PorticoLeaderMissing" not in names
    assert "< 30 * 86400" in names["PorticoCertificateExpiring"]["expr"]
    assert "PrometheusRule" not in {d["kind"] for d in render()}


def test_the_dashboard_is_one_grafana_json_in_a_configmap():
    docs = render("--set", "metrics.dashboard.enabled=true")
    cm = next(d for d in docs if d["kind"] == "ConfigMap"
              and d["metadata"]["name"].endswith("-dashboard"))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dash = json.loads(cm["data"]["portico.json"])
    assert dash == json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "portico"
    names = {v["name"] for v in dash["templating"]["list"]}
    assert names == {"datasource", "namespace", "ingress"}
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    for p in panels:
        assert p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            left = re.sub(r"\$(namespace|ingress|__rate_interval)\b", "",
                          t["expr"])
            assert "$" not in left.replace("${1}", ""), (p["title"],
                                                          t["expr"])
    # what the issue asks the dashboard to show
    titles = " ".join(p["title"] for p in panels).lower()
    for words in ("requests per second", "5xx ratio", "p50 / p95 / p99",
                  "upstream response time", "reloads and table swaps",
                  "certificate expiry", "cache hit ratio", "upstream health"):
        assert words in titles, words
    assert "ServiceMonitor" not in {d["kind"] for d in render()}
    monitors = render("--set", "metrics.serviceMonitor.enabled=true",
                      "--set", "metrics.podMonitor.enabled=true")
    for d in monitors:
        if d["kind"] in ("ServiceMonitor", "PodMonitor"):
            eps = d["spec"].get("endpoints") or \
                d["spec"]["podMetricsEndpoints"]
            assert all(e["honorLabels"] for e in eps), d["kind"]


# --- a bad day in the test bed ---------------------------------------------

# nginx that refuses every configuration, or refuses to start, when told to
# (a file next to it): a configuration that is not applied, nginx down.
NGINX_WRAPPER = """#!/bin/sh
here="$(dirname "$0")"
test=
for a in "$@"; do [ "$a" = "-t" ] && test=1; done
if [ -n "$test" ] && [ -e "$here/refuse-config" ]; then
    echo "nginx: [emerg] the test bed refuses every configuration now" >&2
    exit 1
fi
if [ -z "$test" ] && [ -e "$here/refuse-start" ]; then
    echo "nginx: [emerg] the test bed refuses to start nginx" >&2
    exit 1
fi
exec /usr/sbin/nginx "$@"
"""


class Controller(ControllerUnderTest):
    """portico-controller on the fake API server, Vault in its
    environment, nginx through NGINX_WRAPPER."""

    def __init__(self, procs, tmp_path, api, resolver, env, nginx):
        super().__init__(tmp_path / "state")
        argv = [CONTROLLER, f"--kubeconfig={api.kubeconfig}",
                "--pod-name=portico-a", "--lease-namespace=default",
                f"--nginx-binary={nginx}", "--vault-refresh=1s",
                *self.common_argv(resolver)]
        self.proc = procs.start("portico-controller", argv, env=env,
                                ready=self.ready, timeout=20)


def tls_secret(name, pair):
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": NS},
            "data": {"tls.crt": b64(pair.cert_pem), "tls.key": b64(pair.key_pem)}}


def service(name, port):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": port,
                                "targetPort": port}]}}


def ingress(name, host, svc, port, labels=None, annotations=None, tls=None):
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    spec = {"ingressClassName": "portico", "rules": [{"host": host, "http": {
        "paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": svc, "port": {"number": port}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta, "spec": spec}


@pytest.fixture
def scripted_dns():
    """ScriptedDNS servers (testbed/scripted_dns.py), stopped at the end."""
    made = []

    def make(**kw):
        made.append(ScriptedDNS(**kw))
        return made[-1]
    yield make
    for s in made:
        s.stop()


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def test_every_dashboard_query_and_alert_returns_a_series_on_a_bad_day(
        procs, tmp_path, fake_apiserver, cluster_dns, dnscache_factory,
        fake_vault, http_backend, status_backend, prometheus_factory,
        scripted_dns):
    # DNS: the cache nginx asks has a dead second upstream; another cache
    # whose only upstream answers SERVFAIL
    dead = scripted_dns()
    failing = scripted_dns(rcode=dns.rcode.SERVFAIL)
    dc = dnscache_factory(upstream=[cluster_dns.server, dead.server])
    dc_fail = dnscache_factory(upstream=[failing.server])

    web = http_backend(addr="127.0.0.2", name="web")
    slow = status_backend(addr="127.0.0.3")
    slow_port = int(slow.addr.rsplit(":", 1)[1])
    cluster_dns.set(f"web.{NS}.svc.cluster.local", "127.0.0.2")
    cluster_dns.set(f"slow.{NS}.svc.cluster.local", "127.0.0.3")

    # certificates: a Secret's for 7 days, Vault's for 10
    ca = certs.make_ca()
    vault_pair = certs.make_cert(ca, ["vault.test"], days=10)
    fake_vault.kv_put("ssl/vault.test", {"crt": vault_pair.cert_pem,
                                         "key": vault_pair.key_pem})
    shop_pair = certs.make_cert(ca, ["shop.test"], days=7)

    api = fake_apiserver
    # the leader Lease is held by a replica that is gone (for an hour)
    api.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "portico-leader",
                             "namespace": "default"},
                "spec": {"holderIdentity": "portico-gone",
                         "leaseDurationSeconds": 3600,
                         "acquireTime": now_micro(),
                         "renewTime": now_micro()}}, namespace="default")
    api.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "portico"},
                "spec": {"controller": "portico.io/ingress-controller"}})
    api.create(service("web", web.port), namespace=NS)
    api.create(service("slow", slow_port), namespace=NS)
    api.create(tls_secret("shop-tls", shop_pair), namespace=NS)
    for obj in (
            ingress("shop", "shop.test", "web", web.port, tls="shop-tls"),
            ingress("slow", "slow.test", "slow", slow_port),
            ingress("broken", "broken.test", "missing", 80),
            ingress("vault", "vault.test", "web", web.port,
                    labels={"ssl": "true"}),
            ingress("snippet", "snippet.test", "web", web.port, annotations={
                "nginx.ingress.kubernetes.io/server-snippet": "return 200;"})):
        api.create(obj, namespace=NS)

    wrapper = tmp_path / "bin" / "nginx"
    wrapper.parent.mkdir()
    wrapper.write_text(NGINX_WRAPPER)
    wrapper.chmod(0o755)
    env = dict(os.environ, VAULT_ADDR=fake_vault.addr,
               VAULT_TOKEN=fake_vault.root_token)
    ctl = Controller(procs, tmp_path, api, f"{dc.addr}:{dc.port}", env,
                     wrapper)
    prom = prometheus_factory([f"127.0.0.1:{ctl.metrics_port}",
                               f"127.0.0.1:{dc.metrics_port}",
                               f"127.0.0.1:{dc_fail.metrics_port}"])
    eventually(lambda: ctl.get("shop.test") == 308, timeout=20)
    eventually(lambda: ctl.get("broken.test") == 503, timeout=20)
    eventually(lambda: ctl.get("slow.test", "/sleep/1") == 200, timeout=20)
    eventually(lambda: 'source="vault"' in ctl.metrics(), timeout=20)
    # Prometheus scrapes all three (its first scrape comes up to 5 s after
    # it starts), and has every request series before the traffic counts
    prom.wait_for("count(up == 1) == 3", timeout=30)
    assert ctl.get("nobody.test") == 404
    prom.wait_for('portico_requests_total{ingress="slow"}', timeout=30)
    prom.wait_for('portico_requests_total{ingress="broken"}', timeout=30)

    # traffic for a few seconds: fast, failing, slow (1.5 s), no rule
    def load():
        for _ in range(12):
            assert ctl.get("shop.test") == 308
            assert ctl.get("broken.test") == 503
            assert ctl.get("nobody.test") == 404
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        slow_jobs = [pool.submit(ctl.get, "slow.test", "/sleep/1500")
                     for _ in range(48)]
        fast_jobs = [pool.submit(load) for _ in range(4)]
        assert all(j.result() == 200 for j in slow_jobs)
        for j in fast_jobs:
            j.result()
    # the DNS: names through the cache with the dead upstream, and
    # SERVFAILs from the other one
    for i in range(20):
        dc.query(f"name-{i}.{NS}.svc.cluster.local")
        dc_fail.query(f"name-{i}.example.org")
    eventually(lambda: dc.metric("portico_dnscache_upstream_up",
                                 upstream=dead.server) == 0, timeout=20)

    # a configuration nginx refuses: a changed Ingress is not applied
    (wrapper.parent / "refuse-config").touch()
    changed = ingress("shop", "shop.test", "web", web.port, tls="shop-tls")
    changed["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/v2"
    api.patch("Ingress", "shop", {"spec": changed["spec"]}, namespace=NS)
    eventually(lambda: "portico_controller_config_applied 0" in ctl.metrics(),
               timeout=20)

    # everything scraped: the request metrics, the controller, both caches
    prom.wait_for('rate(portico_requests_total{ingress="slow"}[1m]) > 0',
                  timeout=30)
    prom.wait_for("portico_controller_config_applied == 0", timeout=30)
    prom.wait_for("portico_dnscache_upstream_up == 0", timeout=30)
    prom.wait_for('portico_dnscache_responses_total{rcode="SERVFAIL"} > 0',
                  timeout=30)

    dead_panels = [(title, expr) for title, expr in dashboard_exprs()
                   if not prom.query(expr)]


    alerts = alert_exprs()
    fired = {name: prom.query(expr) for name, expr in alerts.items()
             if name != "PorticoNginxMetricsDown"}
    silent = [name for name, result in fired.items() if not result]
    assert not silent, (silent, {n: alerts[n] for n in silent})

    def labels(name, key):
        return {r["metric"].get(key) for r in fired[name]}
    # each fired for what this bad day did
    assert "broken" in labels("PorticoHTTP5xxRatioHigh", "ingress")
    assert labels("PorticoLatencyHigh", "ingress") == {"slow"}
    assert labels("PorticoIngressesNotServed", "state") == {"rejected"}
    assert {(r["metric"]["host"], r["metric"]["source"])
            for r in fired["PorticoCertificateExpiring"]} == \
        {("shop.test", "secret"), ("vault.test", "vault")}
    assert labels("PorticoDNSUpstreamDown", "upstream") == {dead.server}
    assert labels("PorticoDNSServfailRatioHigh", "instance") == \
        {f"127.0.0.1:{dc_fail.metrics_port}"}

    # nginx goes away and may not start again: the controller says so
    (wrapper.parent / "refuse-start").touch()
    master, workers = ctl.nginx_pids()
    for pid in (master, *workers):
        os.kill(pid, signal.SIGKILL)
    prom.wait_for(alerts["PorticoNginxMetricsDown"], timeout=30)
