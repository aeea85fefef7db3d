"""Core fixtures of the test bed: process registry, real nginx (Debian's,
with our module), real dnsmasq as the cluster DNS, real Prometheus, and
small echo backends. Everything listens on 127.0.0.0/8 only."""
import http.server
import json
import os
import re
import signal
import socketserver
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

import testbed
from testbed.procs import LIVE, ProcRegistry, child_pids


# --- logs of failed tests ------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    registry = getattr(item, "_portico_procs", None)
    if registry is not None and rep.failed:
        rep.sections.append(("portico process logs", registry.logs()))


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_running():
    yield
    for p in list(LIVE):
        p.stop(timeout=2)


@pytest.fixture
def procs(request, tmp_path):
    """Starts real processes for one test; stops them all at teardown.
    Their logs are attached to the report of a failed test."""
    registry = ProcRegistry(tmp_path)
    request.node._portico_procs = registry
    yield registry
    registry.stop_all()


# --- cluster DNS: real dnsmasq, authoritative for cluster.local ------------

class ClusterDNS:
    """dnsmasq answering cluster.local names from a hosts file. Unknown
    cluster.local names get NXDOMAIN; records change with set()/remove()
    (file rewrite + SIGHUP, which also clears dnsmasq's cache)."""

    def __init__(self, procs, workdir, ttl=5, addr="127.0.0.1", port=None,
                 domain="cluster.local"):
        self.procs = procs
        self.addr = addr
        self.port = port or testbed.free_port(addr)
        self.ttl = ttl
        self.domain = domain
        self.hosts_path = os.path.join(workdir, "cluster-dns.hosts")
        self.records = {}
        self.proc = None
        self._write()

    def _write(self):
        lines = []
        for name in sorted(self.records):
            for ip in self.records[name]:
                lines.append(f"{ip} {name}")
        tmp = self.hosts_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.hosts_path)

    def argv(self):
        return [testbed.DNSMASQ, "-k", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", f"--addn-hosts={self.hosts_path}",
                f"--local=/{self.domain}/", "--domain-needed",
                f"--listen-address={self.addr}", f"--port={self.port}",
                "--bind-interfaces", f"--local-ttl={self.ttl}",
                "--cache-size=0", "--user=root", "--group=root",
                "--pid-file=", "--log-facility=-"]

    def start(self):
        self.proc = self.procs.start("dnsmasq", self.argv(), ready=self._ready)
        return self

    def _ready(self):
        return self.query(f"portico-readiness-probe.{self.domain}",
                          timeout=0.2) is not None

    def query(self, name, rdtype="A", timeout=1.0):
        """The dns.message response, or None on timeout."""
        import dns.message
        import dns.query
        q = dns.message.make_query(name, rdtype)
        try:
            return dns.query.udp(q, self.addr, port=self.port, timeout=timeout)
        except Exception:
            return None

    def set(self, name, *ips):
        """Replaces the records of name (A for IPv4, AAAA for IPv6)."""
        self.records[name] = list(ips)
        self._apply()

    def remove(self, name):
        self.records.pop(name, None)
        self._apply()

    def _apply(self):
        self._write()
        if self.proc is not None and self.proc.alive():
            self.proc.signal(signal.SIGHUP)
            time.sleep(0.05)  # dnsmasq rereads the file on its next loop

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    @property
    def server(self):
        return f"{self.addr}:{self.port}"


@pytest.fixture
def cluster_dns_factory(procs, tmp_path):
    def make(ttl=5, addr="127.0.0.1", port=None, domain="cluster.local"):
        return ClusterDNS(procs, str(tmp_path), ttl=ttl, addr=addr, port=port,
                          domain=domain).start()
    return make


@pytest.fixture
def cluster_dns(cluster_dns_factory):
    return cluster_dns_factory()


# --- nginx: Debian's binary with our module ------------------------------

def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


_LISTEN_RE = re.compile(r"\blisten\s+(\d+\.\d+\.\d+\.\d+):(\d+)")


class Nginx:
    """A real nginx master in its own prefix. http_conf goes inside http{}."""

    def __init__(self, procs, prefix, http_conf, workers=1, main_conf="",
                 module=True, events_conf=""):
        self.procs = procs
        self.prefix = str(prefix)
        self.workers = workers
        self.main_conf = main_conf
        self.module = module
        self.events_conf = events_conf
        self.http_conf = http_conf
        for d in ("logs", "conf", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.conf_path = os.path.join(self.prefix, "conf", "nginx.conf")
        self.error_log_path = os.path.join(self.prefix, "logs", "error.log")
        self.pid_path = os.path.join(self.prefix, "logs", "nginx.pid")
        self.proc = None
        self._write()

    def render(self, http_conf):
        p = self.prefix
        load = f"load_module {testbed.MODULE_SO};\n" if self.module else ""
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (f"{load}{user}worker_processes {self.workers};\n"
                f"daemon off;\npid {self.pid_path};\n"
                f"error_log {self.error_log_path} info;\n"
                f"{self.main_conf}\n"
                f"events {{ worker_connections 4096; {self.events_conf} }}\n"
                f"http {{\n"
                f"    access_log off;\n"
                f"    client_body_temp_path {p}/tmp/body;\n"
                f"    proxy_temp_path {p}/tmp/proxy;\n"
                f"    fastcgi_temp_path {p}/tmp/fastcgi;\n"
                f"    uwsgi_temp_path {p}/tmp/uwsgi;\n"
                f"    scgi_temp_path {p}/tmp/scgi;\n"
                f"{http_conf}\n}}\n")

    def _write(self):
        with open(self.conf_path, "w") as f:
            f.write(self.render(self.http_conf))

    def cmd(self, *extra):
        return [testbed.NGINX, "-p", self.prefix, "-c", self.conf_path,
                "-e", self.error_log_path, *extra]

    def test_config(self):
        """nginx -t on the current config file."""
        return subprocess.run(self.cmd("-t"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)

    def listens(self):
        return [(h, int(p)) for h, p in _LISTEN_RE.findall(self.http_conf)]

    def _ready(self):
        return all(testbed.wait_tcp(h, p) for h, p in self.listens()) and \
            len(self.worker_pids()) >= self.workers

    def start(self, timeout=15):
        self.proc = self.procs.start("nginx", self.cmd())
        self.proc.wait_ready(self._ready, timeout)
        return self

    @property
    def master_pid(self):
        return self.proc.pid

    def worker_pids(self):
        """Pids of the master's live worker processes (not cache helpers,
        not old workers that are shutting down)."""
        return [p for p in child_pids(self.master_pid, b"worker process")
                if b"shutting down" not in _cmdline(p)]

    def reload(self, http_conf=None, timeout=15):
        """Optionally rewrites the config, sends SIGHUP, and waits until a
        full new generation of workers runs and no old worker accepts
        connections any more. Raises if nginx refused the new config."""
        if http_conf is not None:
            self.http_conf = http_conf
            self._write()
        old = set(self.worker_pids())
        log_size = os.path.getsize(self.error_log_path)
        self.proc.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.worker_pids()
            new = [p for p in now if p not in old]
            # Done when a full new generation runs and every old worker has
            # exited or closed its listeners ("shutting down" workers are
            # not listed by worker_pids).
            if len(new) >= self.workers and not old & set(now):
                return
            with open(self.error_log_path, "rb") as f:
                f.seek(log_size)
                tail = f.read().decode(errors="replace")
            if "[emerg]" in tail:
                raise RuntimeError(f"nginx refused the reload:\n{tail}")
            time.sleep(0.05)
        raise RuntimeError("nginx did not start new workers after SIGHUP")

    def error_log(self):
        try:
            with open(self.error_log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            self.proc.stop(sig=signal.SIGQUIT)


@pytest.fixture
def nginx_factory(procs, tmp_path):
    count = [0]

    def make(http_conf, workers=1, main_conf="", module=True, events_conf="",
             start=True):
        count[0] += 1
        prefix = tmp_path / f"nginx{count[0]}"
        n = Nginx(procs, prefix, http_conf, workers=workers,
                  main_conf=main_conf, module=module, events_conf=events_conf)
        return n.start() if start else n
    return make


# --- Prometheus: the real server scraping our endpoints --------------------

class Prometheus:
    def __init__(self, procs, workdir, targets, scrape_interval="1s"):
        self.port = testbed.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = os.path.join(workdir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n"
                    f"  scrape_interval: {scrape_interval}\n"
                    f"  scrape_timeout: {scrape_interval}\n"
                    "scrape_configs:\n"
                    "  - job_name: portico\n"
                    "    static_configs:\n"
                    f"      - targets: {json.dumps(list(targets))}\n")
        data = os.path.join(workdir, "prometheus-data")
        self.proc = procs.start(
            "prometheus",
            [testbed.PROMETHEUS, f"--config.file={conf}",
             f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            ready=lambda: self._get("/-/ready")[0] == 200, timeout=30)

    def _get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def query(self, expr):
        status, body = self._get("/api/v1/query?" +
                                 urllib.parse.urlencode({"query": expr}))
        data = json.loads(body)
        if status != 200 or data.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body!r}")
        return data["data"]["result"]

    def targets(self):
        status, body = self._get("/api/v1/targets")
        return json.loads(body)["data"]["activeTargets"]

    def wait_for(self, expr, predicate=lambda r: len(r) > 0, timeout=20):
        """Polls a query until predicate(result) holds; returns the result."""
        deadline = time.monotonic() + timeout
        result = None
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expr!r} never satisfied the predicate; "
                             f"last result {result!r}; targets "
                             f"{self.targets()!r}")


@pytest.fixture
def prometheus_factory(procs, tmp_path):
    count = [0]

    def make(targets, scrape_interval="1s"):
        count[0] += 1
        d = tmp_path / f"prometheus{count[0]}"
        d.mkdir()
        return Prometheus(procs, str(d), targets, scrape_interval)
    return make


# --- echo backends --------------------------------------------------------

class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        backend = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        info = {"name": backend.name, "host": self.headers.get("Host"),
                "path": self.path, "method": self.command,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_length": len(body)}
        with backend.lock:
            backend.requests.append(info)
        out = json.dumps(info).encode()
        status = self.headers.get(backend.status_header or "", "")
        self.send_response(int(status) if status.isdigit() else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Backend", backend.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = \
        do_HEAD = _answer

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Backend:
    """An HTTP server in this process answering every request with JSON
    describing it and its own name (like the conformance echoserver)."""

    def __init__(self, addr, port, name):
        self.addr = addr
        self.port = port or testbed.free_port(addr)
        self.name = name or f"{addr}:{self.port}"
        self.requests = []
        # A request header whose value (digits) is the status to answer
        # with, or None: always 200.
        self.status_header = None
        self.lock = threading.Lock()
        self.server = _Server((addr, self.port), _EchoHandler)
        self.server.backend = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def hits(self):
        with self.lock:
            return len(self.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_backend():
    made = []

    def make(addr="127.0.0.2", port=None, name=None):
        b = Backend(addr, port, name)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()
