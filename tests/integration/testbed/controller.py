"""portico-controller under test: what the local-mode and the Kubernetes
tests share (ports on loopback, the common flags, readiness, metrics, and
polling until a condition holds)."""
import http.client
import time
import urllib.request

import testbed

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


class ControllerUnderTest:
    """Free loopback ports and the flags every test controller uses; the
    subclasses add their source (a folder, or the fake API server)."""

    def __init__(self, prefix):
        self.prefix = prefix
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
