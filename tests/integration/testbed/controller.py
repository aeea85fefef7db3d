"""portico-controller under test: what the local-mode and the Kubernetes
tests share (ports on loopback, the common flags, readiness, metrics, and
polling until a condition holds)."""
import http.client
import os
import re
import stat
import threading
import time
import urllib.request

import testbed
from testbed import procs

CONTROLLER = str(testbed.BUILD / "portico-controller")


def eventually(fn, timeout=10.0, interval=0.05):
    """Polls fn until it returns a truthy value; returns it. Connection
    errors and missing keys count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException, KeyError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last={last!r}")


def let_nginx_workers_in(path):
    """nginx workers run as nobody when the controller runs as root, and
    read the route table (PREFIX/routes) themselves: pytest's temp folders
    are 0700, so give "others" the right to pass through (x, not r) the
    folders of ours on the way to the prefix, as /var/lib is in a pod."""
    for d in [path, *path.parents]:
        try:
            st = d.stat()
        except OSError:
            continue
        if st.st_uid == os.geteuid() and not st.st_mode & stat.S_IXOTH:
            os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


class ControllerUnderTest:
    """Free loopback ports and the flags every test controller uses; the
    subclasses add their source (a folder, or the fake API server)."""

    def __init__(self, prefix):
        self.prefix = prefix
        let_nginx_workers_in(prefix.parent)
        self.http_port = testbed.free_port()
        self.https_port = testbed.free_port()
        self.status_port = testbed.free_port()
        self.metrics_port = testbed.free_port()

    def common_argv(self, resolver):
        return [f"--nginx-prefix={self.prefix}",
                f"--module-path={testbed.MODULE_SO}",
                f"--resolver={resolver}", "--resolve-ttl=1s,2s",
                "--bind-address=127.0.0.1",
                f"--http-port={self.http_port}",
                f"--https-port={self.https_port}",
                f"--status-port={self.status_port}",
                f"--metrics-address=127.0.0.1:{self.metrics_port}",
                "--worker-processes=1", "--debounce=50ms"]

    def ready(self):
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.metrics_port}/readyz",
                    timeout=0.5) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics",
                timeout=2) as r:
            return r.read().decode()

    def nginx_conf(self):
        return (self.prefix / "nginx.conf").read_text()

    def routes(self):
        """The live route table (PREFIX/routes); a table in shards (format
        3) as its head followed by each shard file's lines but the first,
        in the head's order."""
        head = (self.prefix / "routes").read_text()
        if not head.startswith("portico-routes 3\n"):
            return head
        parts = [head]
        for name in re.findall(r"^shard \d+ ([0-9a-z]+)$", head, re.M):
            text = (self.prefix / "routes.d" / name).read_text()
            parts.append(text.split("\n", 1)[1])
        return "".join(parts)

    def certificates(self):
        """The live certificate table (PREFIX/certificates)."""
        return (self.prefix / "certificates").read_text()

    def files_served(self):
        """(config hash, table version) when the controller reports nginx
        serving exactly the nginx.conf, the route table and the
        certificate table now in the prefix (every worker on all three, no
        old worker accepting); else None."""
        conf = re.search(r'/config-version .*return 200 "([0-9a-f]+)',
                         self.nginx_conf())
        table = re.match(r"portico-routes [123]\nversion ([0-9a-z]+)\n",
                         self.routes())
        certs = re.match(r"portico-certificates 1\nversion ([0-9a-z]+)\n",
                         self.certificates())
        if not conf or not table or not certs:
            return None
        text = self.metrics()
        if (f'config_hash_info{{hash="{conf.group(1)}"}} 1' in text and
                f'routes_hash_info{{hash="{table.group(1)}"}} 1' in text and
                f'certificates_hash_info{{hash="{certs.group(1)}"}} 1'
                in text):
            return conf.group(1), table.group(1)
        return None

    def nginx_pids(self):
        """(master pid, sorted live worker pids) of the controller's nginx."""
        master = int((self.prefix / "nginx.pid").read_text())
        workers = []
        for pid in procs.child_pids(master, b"worker process"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"shutting down" not in f.read():
                        workers.append(pid)
            except OSError:
                continue
        return master, workers

    def get(self, host, path="/", timeout=10):
        """The status code of GET path on the plain HTTP port for host."""
        c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                       timeout=timeout)
        try:
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def metric(self, name, **labels):
        """The value of the sample name{labels} (label order free), or
        None when there is no such sample."""
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            base, _, rest = head.partition("{")
            if base != name:
                continue
            got = dict(kv.split("=", 1) for kv in
                       rest.rstrip("}").split(",") if kv)
            got = {k: v.strip('"') for k, v in got.items()}
            if got == {k: str(v) for k, v in labels.items()}:
                return float(value)
        return None


class Load:
    """Steady HTTP load on nginx from two threads, a new connection per
    request; every outcome is kept with its start and end time."""

    def __init__(self, port, host, path="/", threads=2):
        self.port, self.host, self.path = port, host, path
        self.results = []           # (started, ended, outcome)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]

    def _one(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", self.path, headers={"Host": self.host})
            r = c.getresponse()
            r.read()
            return str(r.status)
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except (OSError, http.client.HTTPException) as e:
            return type(e).__name__
        finally:
            c.close()

    def _run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            outcome = self._one()
            with self.lock:
                self.results.append((started, time.monotonic(), outcome))
            time.sleep(0.005)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(15)

    def outcomes(self, since=0.0):
        with self.lock:
            out = {}
            for started, _, o in self.results:
                if started >= since:
                    out[o] = out.get(o, 0) + 1
            return out

    def failures(self):
        with self.lock:
            return [(s, e, o) for s, e, o in self.results if o != "200"]
