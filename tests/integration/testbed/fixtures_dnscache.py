"""portico-dnscache in the test bed: the real binary (build/portico-dnscache)
on free loopback ports, forwarding to the cluster DNS (real dnsmasq) unless
told otherwise. Ready when it answers a real DNS query.

    dc = dnscache_factory(max_ttl=2, hosts="/path")    # flags by keyword
    dc.query("web.cluster.local")                      # dns.message
    dc.metrics_text(), dc.metrics_url, dc.addr, dc.port, dc.proc, dc.stop()

Keyword flags: name_with_underscores=value becomes --name-with-underscores
value; True gives the bare flag; a list repeats the flag. upstream=[...]
replaces the default (the cluster_dns fixture's address).
"""
import socket
import urllib.request

import pytest

import testbed

DNSCACHE = testbed.BUILD / "portico-dnscache"
READINESS_NAME = "portico-dnscache-readiness.cluster.local"


class DnsCache:
    def __init__(self, procs, upstreams, addr="127.0.0.1", port=None,
                 name="portico-dnscache", **flags):
        self.addr = addr
        self.port = port or testbed.free_port(addr)
        self.metrics_port = testbed.free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.healthz_url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        host = f"[{addr}]" if ":" in addr else addr
        argv = [str(DNSCACHE), "--listen", f"{host}:{self.port}",
                "--metrics", f"127.0.0.1:{self.metrics_port}"]
        for u in upstreams:
            argv += ["--upstream", u]
        for key, value in flags.items():
            flag = "--" + key.replace("_", "-")
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                argv += [flag] if v is True else [flag, str(v)]
        self.argv = argv
        self.proc = procs.start(name, argv, ready=self._ready)

    def _ready(self):
        # Any answer (even SERVFAIL when every upstream is down) means the
        # listeners and the loop run.
        return self.query(READINESS_NAME, timeout=0.5) is not None

    def query(self, name, rdtype="A", tcp=False, timeout=2.0, raise_on_timeout=False,
              **make_query_args):
        """The dns.message answer over UDP (or TCP), or None on timeout.
        UDP answers with TC are returned as they are."""
        import dns.exception
        import dns.message
        import dns.query
        q = dns.message.make_query(name, rdtype, **make_query_args)
        try:
            if tcp:
                return dns.query.tcp(q, self.addr, port=self.port,
                                     timeout=timeout)
            return dns.query.udp(q, self.addr, port=self.port, timeout=timeout,
                                 raise_on_truncation=False)
        except (dns.exception.Timeout, socket.timeout):
            if raise_on_timeout:
                raise
            return None

    def metrics_text(self):
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """Sum of the samples of name whose labels include labels."""
        total, found = 0.0, False
        for line in self.metrics_text().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            key, _, value = line.rpartition(" ")
            if key != name and not key.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in key for k, v in labels.items()):
                total += float(value)
                found = True
        if not found:
            raise KeyError(f"{name} {labels} not exposed")
        return total

    def healthz(self):
        try:
            with urllib.request.urlopen(self.healthz_url, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self):
        return self.proc.stop()


@pytest.fixture
def dnscache_factory(request, procs):
    """Starts portico-dnscache instances; see the module docstring."""
    count = [0]

    def make(upstream=None, **flags):
        if upstream is None:
            upstream = [request.getfixturevalue("cluster_dns").server]
        elif isinstance(upstream, str):
            upstream = [upstream]
        count[0] += 1
        name = "portico-dnscache" if count[0] == 1 else f"portico-dnscache-{count[0]}"
        return DnsCache(procs, upstream, name=name, **flags)
    return make
