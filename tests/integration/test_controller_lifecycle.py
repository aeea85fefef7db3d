"""The data plane outlives the controller (issue 18), with REAL nginx, our
module, portico-dnscache and dnsmasq, under steady load:
- `kill -9` of the controller: nginx keeps serving (no failed request);
  a controller started 5 s later adopts the same master and applies a
  change made while it was down, without restarting nginx;
- `kill -9` of the nginx master: restarted; the connection refusals of the
  restart window are counted and reported, and nothing else fails: no 502
  or 503, also with the DNS gone (the new master's table upstreams come
  from the state file the workers wrote);
- SIGTERM with a 20 s request in flight: nginx keeps accepting for the
  drain period, the request completes, nothing is left, no zombie."""
import http.client
import http.server
import os
import signal
import socket
import socketserver
import threading
import time

import pytest

import testbed
from testbed import procs as procs_mod
from testbed.controller import Load, eventually
from test_controller_local import LocalController, NS, ingress, service


def master_of(ctl):
    """The master pid in the pid file, or None while nginx (re)writes it."""
    try:
        return ctl.nginx_pids()[0]
    except (OSError, ValueError):
        return None


def zombies_of(pid):
    """Zombie children of pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(d))
    return out


def processes_with(marker):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker in f.read():
                    out.append(int(d))
        except OSError:
            continue
    return out


@pytest.fixture
def setup(procs, tmp_path, cluster_dns, http_backend, dnscache_factory):
    """dnscache -> dnsmasq, two echo backends behind Service names; the
    caller starts the controller (LocalController) with its own flags."""
    dc = dnscache_factory()
    b = {}
    for i, name in enumerate(("alpha", "beta")):
        b[name] = http_backend(addr=f"127.0.0.{i + 2}", name=name)
        cluster_dns.set(f"{name}.{NS}.svc.cluster.local", b[name].addr)
    return {"procs": procs, "tmp": tmp_path, "dns": f"{dc.addr}:{dc.port}",
            "dnscache": dc, "backends": b}


def start_controller(s, extra=()):
    ctl = LocalController(s["procs"], s["tmp"], s["dns"], extra=extra)
    ctl.procs_registry = s["procs"]
    for name, b in s["backends"].items():
        ctl.write(f"svc-{name}", service(name, b.port))
    return ctl


def restart_controller(old):
    """A second controller on the same folders, ports and flags."""
    argv = old.proc.argv
    new = object.__new__(LocalController)
    new.__dict__.update(old.__dict__)
    new.proc = old.procs_registry.start("portico-controller", argv,
                                        ready=new.ready, timeout=15)
    return new


def test_controller_killed_under_load_nginx_serves_on_and_is_adopted(setup):
    s = setup
    ctl = start_controller(s)
    a = s["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    master, workers = ctl.nginx_pids()

    with Load(ctl.http_port, "a.test") as load:
        time.sleep(1)
        ctl.proc.kill()                     # SIGKILL: no cleanup at all
        assert not ctl.proc.alive()
        # A change while no controller runs, then 5 s without one.
        b = s["backends"]["beta"]
        ctl.write("b", ingress("b", [("b.test", [("/", "Prefix", "beta",
                                                  b.port)])]))
        time.sleep(5)
        assert ctl.nginx_pids()[0] == master
        new = restart_controller(ctl)
        new.wait_served("b.test", "/", "beta", timeout=15)
        time.sleep(1)
    assert load.outcomes().get("200", 0) > 100
    assert load.failures() == []
    # The same master serves: adopted, not restarted.
    assert new.nginx_pids()[0] == master
    assert "adopted the running master %d" % master in new.proc.log_text()
    assert new.metric("portico_controller_nginx_restarts_total") == 0
    assert new.served_by("a.test") == "alpha"


def test_adopted_nginx_with_nothing_changed_is_not_reloaded(setup):
    s = setup
    ctl = start_controller(s)
    a = s["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    master, workers = ctl.nginx_pids()
    ctl.proc.kill()
    new = restart_controller(ctl)
    assert "nothing to reload" in eventually(
        lambda: "nothing to reload" in new.proc.log_text() and
        new.proc.log_text())
    # Ready and the same workers: no reload, no table swap.
    assert new.ready()
    assert new.nginx_pids() == (master, workers)
    assert new.metric("portico_controller_reloads_total",
                      result="success") == 0
    assert new.metric("portico_controller_route_updates_total",
                      result="success") == 0


def test_nginx_master_killed_under_load_restarts_in_a_short_window(setup):
    s = setup
    ctl = start_controller(s)
    a = s["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    master, _ = ctl.nginx_pids()
    with Load(ctl.http_port, "a.test") as load:
        time.sleep(1)
        killed = time.monotonic()
        os.kill(master, signal.SIGKILL)
        eventually(lambda: ctl.metric(
            "portico_controller_nginx_restarts_total") == 1, timeout=10)
        eventually(lambda: master_of(ctl) not in (None, master), timeout=10)
        time.sleep(2)
    refusals = [(st, en) for st, en, o in load.failures() if o == "refused"]
    window = (refusals[-1][1] - refusals[0][0]) if refusals else 0.0
    other = [o for _, _, o in load.failures() if o != "refused"]
    print(f"\nnginx master kill -9: {len(refusals)} refused connections "
          f"over {window:.3f} s; other failures {other}; "
          f"outcomes {load.outcomes(killed)}")
    # Served again after the restart, and refusals only in one short
    # window (goal 0.5 s; the bound here leaves room for a loaded CI).
    assert load.outcomes(killed + 3).get("200", 0) > 0 or \
        ctl.served_by("a.test") == "alpha"
    assert window < 2.0
    assert other == []
    assert zombies_of(os.getpid()) == []


def test_nginx_master_killed_under_load_answers_no_502(setup):
    s = setup
    ctl = start_controller(s)
    a = s["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    master, _ = ctl.nginx_pids()
    with Load(ctl.http_port, "a.test") as load:
        time.sleep(1)
        os.kill(master, signal.SIGKILL)
        eventually(lambda: master_of(ctl) not in (None, master), timeout=10)
        time.sleep(2)
    assert [o for _, _, o in load.failures() if o.startswith("5")] == []


def state_file_has(ctl, address):
    """The table upstreams' state file the workers write lists address."""
    try:
        with open(ctl.prefix / "state" / "upstreams") as f:
            return f" {address}\n" in f.read()
    except OSError:
        return False


def test_nginx_master_killed_with_the_dns_gone_serves_the_last_addresses(
        setup):
    """The fresh master seeds its upstreams from the state file the last
    workers wrote: no name can be resolved, yet no request fails but the
    connection refusals of the restart window."""
    s = setup
    ctl = start_controller(s)
    a = s["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    eventually(lambda: state_file_has(ctl, a.addr), timeout=10)
    master, _ = ctl.nginx_pids()
    s["dnscache"].stop()
    with Load(ctl.http_port, "a.test") as load:
        time.sleep(1)
        killed = time.monotonic()
        os.kill(master, signal.SIGKILL)
        eventually(lambda: master_of(ctl) not in (None, master), timeout=10)
        time.sleep(3)           # past the 2 s wait for a first answer
    assert [o for _, _, o in load.failures() if o != "refused"] == []
    assert load.outcomes(killed + 0.5).get("200", 0) > 0
    assert ctl.served_by("a.test") == "alpha"


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(float(self.path.split("/")[2]))
        body = b"done\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture
def slow_backend(cluster_dns):
    srv = _ThreadingServer(("127.0.0.5", 0), _SlowHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    cluster_dns.set(f"slow.{NS}.svc.cluster.local", "127.0.0.5")
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_sigterm_drains_a_20s_request_completes_and_no_zombie(setup,
                                                               slow_backend):
    s = setup
    drain = 3.0
    ctl = start_controller(s, extra=[f"--drain-period={drain:g}s",
                                     "--shutdown-timeout=40s",
                                     "--worker-shutdown-timeout=30s"])
    ctl.write("svc-slow", service("slow", slow_backend))
    ctl.write("slow", ingress("slow", [("slow.test", [
        ("/", "Prefix", "slow", slow_backend)])]))
    eventually(lambda: ctl.get("slow.test", "/slow/0").status == 200)
    master, _ = ctl.nginx_pids()
    result = {}

    def slow_request():
        c = http.client.HTTPConnection("127.0.0.1", ctl.http_port,
                                       timeout=60)
        t0 = time.monotonic()
        c.request("GET", "/slow/20", headers={"Host": "slow.test"})
        r = c.getresponse()
        result["status"], result["body"] = r.status, r.read()
        result["took"] = time.monotonic() - t0
        c.close()

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(1)
    termed = time.monotonic()
    ctl.proc.signal(signal.SIGTERM)
    # Not ready any more, but nginx still accepts during the drain.
    eventually(lambda: not ctl.ready(), timeout=2)
    time.sleep(drain / 3)
    assert ctl.get("slow.test", "/slow/0").status == 200
    # After the drain: the listeners are closed.
    time.sleep(drain - (time.monotonic() - termed) + 0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ctl.http_port), timeout=2)
    t.join(40)
    assert result.get("status") == 200 and result["body"] == b"done\n"
    assert result["took"] >= 20
    assert ctl.proc.popen.wait(30) == 0
    assert processes_with(os.fsencode(str(ctl.prefix))) == []
    assert not os.path.exists(ctl.prefix / "nginx.pid")
    assert zombies_of(os.getpid()) == []
    assert zombies_of(ctl.proc.pid) == []
    log = ctl.proc.log_text()
    assert "did not stop in time" not in log
    assert master not in processes_with(b"nginx")
