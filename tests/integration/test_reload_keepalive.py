"""Reload hygiene for keep-alive clients (issue 18), with REAL nginx and
our module in local mode. A response that an old worker sends while it
stops after a reload says `Connection: close` (nginx 1.22 does this
itself; proven here), so a busy connection closes cleanly. What remains,
measured under keep-alive load with wrk and a probe, with and without
reloads: a graceful worker stop closes at once every keep-alive
connection nginx sees as idle (ngx_close_idle_connections), also one
whose next request is already in the socket, which the client sees as a
reset; no nginx setting changes that, and reloads are the exception
(routes and upstreams are data). The counts are printed; BENCHMARKS.md
keeps them."""
import http.client
import re
import subprocess
import threading
import time

from testbed.controller import eventually
from test_controller_lifecycle import setup, start_controller  # noqa: F401
from test_controller_lifecycle import slow_backend  # noqa: F401
from test_controller_local import ingress, service

WRK = "/usr/bin/wrk"


def reload_by_new_profile(ctl, i, service_name, port):
    """An Ingress with a proxy timeout no other has needs a new option
    profile: nginx.conf changes, a reload (a new Service is table data)."""
    before = ctl.metric("portico_controller_reloads_total",
                        result="success") or 0
    ctl.write(f"extra{i}", ingress(
        f"extra{i}", [(f"extra{i}.test", [("/", "Prefix", service_name,
                                            port)])],
        annotations={"portico.io/proxy-read-timeout": f"{61 + i}"}))
    eventually(lambda: ctl.metric("portico_controller_reloads_total",
                                  result="success") == before + 1,
               timeout=20)


def test_a_response_sent_by_a_stopping_worker_says_connection_close(
        setup, slow_backend):
    ctl = start_controller(setup)
    ctl.write("svc-slow", service("slow", slow_backend))
    ctl.write("slow", ingress("slow", [("slow.test", [
        ("/", "Prefix", "slow", slow_backend)])]))
    eventually(lambda: ctl.get("slow.test", "/slow/0").status == 200)
    c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=30)
    c.request("GET", "/slow/0", headers={"Host": "slow.test"})
    r = c.getresponse()
    r.read()
    assert r.getheader("Connection", "keep-alive").lower() == "keep-alive"
    # Same connection: a request in flight while a reload stops its worker.
    c.request("GET", "/slow/3", headers={"Host": "slow.test"})
    time.sleep(0.5)
    reload_by_new_profile(ctl, 0, "slow", slow_backend)
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"done\n"
    assert r.getheader("Connection") == "close"
    assert r.will_close
    c.close()


def wrk_errors(out):
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return reqs, dict(zip(("connect", "read", "write", "timeout"),
                          map(int, m.groups()))) if m else {}


class KeepAliveProbe:
    """One persistent connection sending a request every 5 ms; counts the
    requests whose connection broke under them (reset or closed with no
    response) and the clean closes announced by `Connection: close`."""

    def __init__(self, port, host):
        self.port, self.host = port, host
        self.ok = self.broken = self.announced = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        c = None
        while not self.stop.is_set():
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=5)
            try:
                c.request("GET", "/", headers={"Host": self.host})
                r = c.getresponse()
                r.read()
                self.ok += 1
                if r.will_close:
                    self.announced += 1
                    c.close()
                    c = None
            except (ConnectionError, http.client.HTTPException, OSError):
                self.broken += 1
                c.close()
                c = None
            time.sleep(0.005)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(10)


def keep_alive_load(ctl, seconds, during=None):
    """wrk (16 keep-alive connections) and the probe for seconds; during()
    runs meanwhile. Returns (wrk requests, wrk socket errors, probe)."""
    with KeepAliveProbe(ctl.http_port, "a.test") as probe:
        wrk = subprocess.Popen(
            [WRK, "-t1", "-c16", f"-d{seconds}s", "-H", "Host: a.test",
             f"http://127.0.0.1:{ctl.http_port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if during:
            during()
        out = wrk.communicate(timeout=seconds + 60)[0]
    requests, errors = wrk_errors(out)
    return requests, errors, probe


def test_keep_alive_resets_without_and_with_reloads_measured(setup):
    ctl = start_controller(setup)
    a = setup["backends"]["alpha"]
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    reloads = 3

    def reload_every_2s():
        for i in range(reloads):
            time.sleep(1)
            reload_by_new_profile(ctl, i + 1, "alpha", a.port)
            time.sleep(1)

    quiet = keep_alive_load(ctl, 2 * reloads + 2)
    busy = keep_alive_load(ctl, 2 * reloads + 2, reload_every_2s)
    for what, (requests, errors, probe) in (("no reload", quiet),
                                            (f"{reloads} reloads", busy)):
        print(f"\n{what} under keep-alive load: wrk {requests} requests, "
              f"socket errors {errors}; probe {probe.ok} answered, "
              f"{probe.broken} broken under a request, {probe.announced} "
              f"closes announced by Connection: close")
    requests, errors, probe = quiet
    assert requests > 0 and probe.ok > 0
    assert sum(errors.values()) == 0 and probe.broken == 0
    # With reloads: what remains is the idle connection an old worker
    # closes at once while the next request is on its way; at most once
    # per reload for the probe's single connection.
    requests, errors, probe = busy
    assert requests > 0 and probe.ok > 0
    assert probe.broken <= reloads
