"""portico-dnscache's /metrics (scraped by a real Prometheus, linted by
promtool), /healthz, its flags and its signals."""
import signal
import subprocess
import time

import dns.rcode

import testbed
from testbed.fixtures_dnscache import DNSCACHE


def test_metrics_are_promtool_clean_and_scraped_by_prometheus(
        cluster_dns, dnscache_factory, prometheus_factory):
    cluster_dns.set("m.cluster.local", "10.4.0.1")
    dc = dnscache_factory()
    nx_before = dc.metric("portico_dnscache_responses_total", rcode="NXDOMAIN")
    up_nx_before = dc.metric("portico_dnscache_upstream_responses_total",
                             upstream=cluster_dns.server, rcode="NXDOMAIN")
    for _ in range(3):
        dc.query("m.cluster.local")
    dc.query("m.cluster.local", tcp=True)
    dc.query("m.cluster.local", "AAAA")
    dc.query("nx.cluster.local")
    dc.query("nx.cluster.local")
    text = dc.metrics_text()
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out
    for family in ("queries_total", "responses_total", "cache_hits_total",
                   "upstream_responses_total", "cache_misses_total", "cache_stale_served_total",
                   "cache_prefetches_total", "cache_evictions_total",
                   "cache_entries", "upstream_queries_total",
                   "upstream_failures_total", "upstream_up",
                   "upstream_request_duration_seconds",
                   "request_duration_seconds"):
        assert f"# TYPE portico_dnscache_{family} " in text, family
    assert dc.metric("portico_dnscache_queries_total", protocol="tcp", type="A") == 1
    assert dc.metric("portico_dnscache_queries_total", protocol="udp", type="AAAA") == 1
    assert dc.metric("portico_dnscache_responses_total", rcode="NXDOMAIN") == nx_before + 2
    assert dc.metric("portico_dnscache_cache_hits_total") >= 3
    # as CoreDNS counts them: answers with records, negative answers
    assert dc.metric("portico_dnscache_cache_hits_total",
                     type="success") >= 3
    assert dc.metric("portico_dnscache_cache_hits_total", type="denial") == 1
    # the upstream's answers by rcode: one NXDOMAIN (the second was cached)
    up = cluster_dns.server
    assert dc.metric("portico_dnscache_upstream_responses_total",
                     upstream=up, rcode="NXDOMAIN") == up_nx_before + 1
    assert dc.metric("portico_dnscache_upstream_responses_total",
                     upstream=up, rcode="NOERROR") >= 2

    prom = prometheus_factory([f"127.0.0.1:{dc.metrics_port}"])
    res = prom.wait_for('portico_dnscache_cache_hits_total{type="success"}',
                        lambda r: r and float(r[0]["value"][1]) >= 3)
    assert res[0]["metric"]["job"] == "portico"
    up = prom.wait_for("portico_dnscache_upstream_up")
    assert up[0]["metric"]["upstream"] == cluster_dns.server
    assert float(up[0]["value"][1]) == 1
    prom.wait_for("portico_dnscache_request_duration_seconds_count",
                  lambda r: r and float(r[0]["value"][1]) >= 6)
    assert all(t["health"] == "up" for t in prom.targets())


def test_healthz_answers_while_serving(cluster_dns, dnscache_factory):
    dc = dnscache_factory()
    assert dc.healthz() == 200


def test_sigterm_and_sigint_exit_cleanly(cluster_dns, dnscache_factory):
    for sig in (signal.SIGTERM, signal.SIGINT):
        dc = dnscache_factory()
        assert dc.proc.stop(sig=sig) == 0
        assert "exiting" in dc.proc.log_text()


def test_help_documents_every_flag():
    out = subprocess.run([str(DNSCACHE), "--help"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0
    for flag in ("--listen", "--upstream", "--resolv-conf", "--hosts",
                 "--local-ttl", "--cache-size", "--min-ttl", "--max-ttl",
                 "--neg-ttl", "--stale-ttl", "--upstream-timeout",
                 "--stale-timeout", "--timeout", "--max-fails",
                 "--probe-interval", "--renew-interval", "--max-inflight",
                 "--tcp-idle-timeout", "--max-tcp-clients",
                 "--threads", "--metrics", "--log-level", "--version"):
        assert flag in out.stdout, flag


def test_bad_flags_are_refused_with_a_message(tmp_path):
    for argv, words in ((["--cache-size", "0"], "--cache-size"),
                        (["--min-ttl", "40", "--max-ttl", "30"], "--min-ttl"),
                        (["--upstream", "kube-dns.local"], "--upstream"),
                        (["--bogus"], "--help"),
                        (["--resolv-conf", str(tmp_path / "none")], "cannot read")):
        out = subprocess.run([str(DNSCACHE), *argv], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 2, argv
        assert words in out.stderr, (argv, out.stderr)


def test_upstreams_default_to_resolv_conf(tmp_path, procs):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search default.svc.cluster.local cluster.local\n"
                    "nameserver 127.0.0.53\nnameserver ::1\n"
                    "options ndots:5\n")
    port, mport = testbed.free_port(), testbed.free_port()
    p = procs.start("dnscache-resolv", [str(DNSCACHE), "--resolv-conf", str(conf),
                                        "--listen", f"127.0.0.1:{port}",
                                        "--metrics", f"127.0.0.1:{mport}"])
    deadline = time.monotonic() + 5
    while "ready:" not in p.log_text():
        assert p.alive() and time.monotonic() < deadline, p.log_text()
        time.sleep(0.05)
    assert "upstream 127.0.0.53:53" in p.log_text()
    assert "upstream [::1]:53" in p.log_text()


def test_threads_share_the_port_and_all_answer(cluster_dns, dnscache_factory):
    cluster_dns.set("t.cluster.local", "10.4.2.1")
    dc = dnscache_factory(threads=2)
    for i in range(20):
        r = dc.query("t.cluster.local")
        assert r.rcode() == dns.rcode.NOERROR
    assert dc.metric("portico_dnscache_queries_total", protocol="udp", type="A") >= 20
