"""ngx_http_upstream_resolve_module across reloads and binary upgrades:
resolutions in flight (DNS server paused) and records changing while nginx
reloads 50 times under load; no crash, no failed request, the addresses
carried over to the new workers, memory steady."""
import os
import signal
import threading
import time

import testbed
from testbed.procs import child_pids, parent_pid
from testbed.fixtures_module import (http_get, resolve_conf, status,
                                     upstream_status, wait_for)

SVC = "web.default.svc.cluster.local"
RELOADS = 50


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _crashes(log):
    return [line for line in log.splitlines()
            if "exited on signal" in line or "[alert]" in line
            or "[emerg]" in line]


def test_50_reloads_under_load_while_resolving_no_crash_no_error_memory_steady(
        nginx_factory, cluster_dns_factory, nginx_backends, http_load):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    dns.set("other.cluster.local", "127.0.0.3")
    port, sport = testbed.free_port(), testbed.free_port()
    ups = {"web": f"zone web 64k; resolve_server {SVC}:{be.port}; "
                  f"resolve_server other.cluster.local:{be.port}; "
                  f"resolve_ttl 1s 1s; keepalive 8;"}
    conf = resolve_conf(dns.server, ups, port, sport, resolver_timeout="1s")
    n = nginx_factory(conf, workers=2)
    wait_for(lambda: len(upstream_status(sport, "web")["peers"]) == 2,
             what="first resolution")

    # records keep changing while nginx reloads
    flipping = threading.Event()
    flipping.set()

    def flip():
        i = 0
        while flipping.is_set():
            dns.set(SVC, ("127.0.0.2", "127.0.0.3")[i % 2])
            i += 1
            time.sleep(0.3)

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    lo = http_load(port, "/web/", threads=3)

    rss = {}
    worker_rss = {}
    free_pages = {}
    try:
        for i in range(1, RELOADS + 1):
            if i == 20:
                # from here resolutions hang in flight (server paused)
                dns.proc.signal(signal.SIGSTOP)
            if i == 35:
                dns.proc.signal(signal.SIGCONT)
            # alternate two equivalent configs, as a controller would
            n.reload(conf if i % 2 else conf.replace(
                "keepalive 8;", "keepalive 9;"))
            if i in (10, RELOADS):
                time.sleep(0.5)
                rss[i] = _rss_kb(n.master_pid)
                worker_rss[i] = max(_rss_kb(p) for p in n.worker_pids())
                free_pages[i] = upstream_status(sport, "web")[
                    "zone_free_pages"]
    finally:
        dns.proc.signal(signal.SIGCONT)
        flipping.clear()
        flipper.join(5)
        results = lo.stop()

    assert lo.failures() == [], lo.failures()[:5]
    assert len(lo.answered()) > 500
    assert _crashes(n.error_log()) == []
    assert len(n.worker_pids()) == 2
    # the master builds every cycle: its memory must not grow per reload
    assert rss[RELOADS] - rss[10] < 2048, rss
    assert worker_rss[RELOADS] - worker_rss[10] < 2048, worker_rss
    # each cycle has a fresh zone: same content, same use
    assert abs(free_pages[RELOADS] - free_pages[10]) <= 1, free_pages
    assert {body for _, code, body in results if code == 200} <= {
        "127.0.0.2", "127.0.0.3"}

    # still following the records after all that
    dns.set(SVC, "127.0.0.3")
    dns.set("other.cluster.local", "127.0.0.3")
    wait_for(lambda: {p["address"] for p in upstream_status(
        sport, "web")["peers"]} == {f"127.0.0.3:{be.port}"}, timeout=5,
        what="records followed after the reloads")
    assert upstream_status(sport, "web")["zombies"] == 0


def test_reload_keeps_resolved_addresses_of_a_name_that_no_longer_resolves(
        nginx_factory, cluster_dns_factory, nginx_backends):
    """New workers start with the previous cycle's addresses: a reload
    during a DNS outage does not empty the upstream."""
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2",))
    dns.set(SVC, "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    conf = resolve_conf(dns.server, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 2s;")},
        port, sport, resolver_timeout="1s")
    n = nginx_factory(conf, workers=2)
    wait_for(lambda: upstream_status(sport, "web")["resolve"][0]
             ["addresses"], what="first resolution")
    dns.stop()
    n.reload(conf.replace("resolve_ttl 1s 2s;", "resolve_ttl 1s 3s;"))
    for _ in range(20):
        assert http_get(port, "/web/") == (200, "127.0.0.2\n")
    assert upstream_status(sport, "web")["resolve"][0]["addresses"] == [
        f"127.0.0.2:{be.port}"]


def test_binary_upgrade_while_resolving_serves_from_the_new_master(
        procs, nginx_factory, cluster_dns_factory, nginx_backends, http_load):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2",))
    dns.set(SVC, "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(resolve_conf(dns.server, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 1s;")},
        port, sport), workers=2, start=False)
    # nginx refuses SIGUSR2 while its parent is the one it started with,
    # so the master is started by a subshell that then goes away; the
    # outer shell keeps the process group (cleaned up at teardown)
    cmd = " ".join(n.cmd())
    procs.start("nginx-upgrade", ["/bin/sh", "-c",
                                  f"( {cmd} & sleep 1 ); sleep 600"])
    wait_for(lambda: os.path.exists(n.pid_path), what="nginx started")
    with open(n.pid_path) as f:
        old_master = int(f.read())
    first_parent = parent_pid(old_master)
    wait_for(lambda: http_get(port, "/web/") == (200, "127.0.0.2\n"),
             what="first resolution")
    wait_for(lambda: parent_pid(old_master) != first_parent, what="reparented")
    lo = http_load(port, "/web/", threads=2)

    os.kill(old_master, signal.SIGUSR2)
    oldbin = n.pid_path + ".oldbin"
    wait_for(lambda: os.path.exists(oldbin) and os.path.exists(n.pid_path),
             what="new master")
    with open(n.pid_path) as f:
        new_master = int(f.read())
    assert new_master != old_master
    wait_for(lambda: len(child_pids(new_master, b"worker process")) == 2,
             what="new workers")
    # the old master and its workers go gracefully (SIGWINCH works only
    # for a daemonized nginx): the new master's workers take over
    time.sleep(0.5)
    os.kill(old_master, signal.SIGQUIT)
    wait_for(lambda: not os.path.exists(f"/proc/{old_master}/stat") or
             b"zombie" in open(f"/proc/{old_master}/status", "rb").read(),
             timeout=10, what="old master gone")
    for _ in range(10):
        assert http_get(port, "/web/") == (200, "127.0.0.2\n")
    assert status(sport)["pid"] in child_pids(new_master, b"worker process")
    os.kill(new_master, 0)
    lo.stop()
    assert _crashes(n.error_log()) == []
    # the new master's workers start without addresses: a request in the
    # first milliseconds, before their first resolution, may get 502
    early = [r for r in lo.failures() if r[1] != 502]
    assert early == []
    os.kill(new_master, signal.SIGQUIT)
