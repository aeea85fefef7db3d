"""Fixtures for the fake Kubernetes API server (tests/fakes/kube-apiserver):
start it on loopback with a bearer token, write a kubeconfig for kubectl and
the controller, and drive it: plain REST requests, watch streams, kubectl,
and the fault-injection admin API (/__fake/...).

    def test_x(fake_apiserver):
        api = fake_apiserver
        api.create(ingress_obj)
        status, body = api.request("GET", "/apis/networking.k8s.io/v1/ingresses")
        with api.watch("/apis/networking.k8s.io/v1/ingresses",
                       resourceVersion=rv) as w:
            ev = w.next(timeout=5)
        api.fail_next(2, 500)
        api.kubectl("get", "ingresses", "-o", "json")

fake_apiserver_factory(token=..., tls=True, allow=None, bookmark_interval=60,
history_size=None, extra_args=()) starts more or differently configured
servers.

TLS is on by default because client-go (kubectl, and any client that follows
it) sends bearer tokens only over https; the kubeconfig names the CA file
(api.ca_file).  tls=False serves plain http.
"""
import http.client
import json
import os
import queue
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

import testbed

KUBE_APISERVER = testbed.FAKES / "kube-apiserver"
KUBECTL = "/usr/bin/kubectl"
DEFAULT_TOKEN = "portico-test-token"
REQUEST_TIMEOUT = 10
KUBECTL_TIMEOUT = 30
_DEFAULT = object()

# Path prefix of each kind served by the fake (kind -> (api prefix, plural,
# namespaced)), so tests can write objects without spelling out URLs.
KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "Secret": ("/api/v1", "secrets", True),
    "Event": ("/api/v1", "events", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "IngressClass": ("/apis/networking.k8s.io/v1", "ingressclasses", False),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
    "Pod": ("/api/v1", "pods", True),
    "DNSEndpoint": ("/apis/externaldns.k8s.io/v1alpha1", "dnsendpoints", True),
}


def kind_path(kind, namespace="default", name=None, subresource=None):
    prefix, plural, namespaced = KINDS[kind]
    path = prefix
    if namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class ApiError(AssertionError):
    def __init__(self, status, body, what):
        super().__init__(f"{what}: HTTP {status}: {body}")
        self.status, self.body = status, body


class WatchStream:
    """A watch response read event by event (one JSON object per line)."""

    def __init__(self, conn, resp):
        self.conn, self.resp = conn, resp
        self.status = resp.status
        self.headers = resp.headers

    def next(self, timeout=5.0):
        """The next event as a dict, or None when the stream ended.  Raises
        TimeoutError (socket.timeout) if nothing arrives in time."""
        self.conn.sock.settimeout(timeout)
        line = self.resp.readline()
        if not line:
            return None
        return json.loads(line)

    def until(self, pred, timeout=5.0):
        """Reads events until pred(event) holds; returns (match, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event; saw {skipped}")
            ev = self.next(left)
            if ev is None:
                raise AssertionError(f"stream ended; saw {skipped}")
            if pred(ev):
                return ev, skipped
            skipped.append(ev)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KubectlStream:
    """A background kubectl whose stdout lines are read by a thread, so a
    test waits for a line with a timeout and never hangs."""

    def __init__(self, popen):
        self.popen = popen
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout=10.0):
        """The next stdout line; None at EOF; TimeoutError if none came."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"kubectl printed nothing in {timeout}s; "
                               f"alive={self.popen.poll() is None}")

    def stop(self):
        """Kill kubectl (its whole session); returns its stderr."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=5)
        return self.popen.stderr.read()


class FakeApiServer:
    def __init__(self, procs, workdir, token=DEFAULT_TOKEN, tls=True,
                 allow=None, bookmark_interval=None, history_size=None,
                 extra_args=()):
        self.token = token
        self.port = testbed.free_port()
        self.host = "127.0.0.1"
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.ca_file = None
        self._ssl = None
        argv = [KUBE_APISERVER, "--listen", f"{self.host}:{self.port}",
                "--max-lifetime", "900",
                "--access-log", os.path.join(self.workdir, "access.jsonl")]
        if token is not None:
            argv += ["--token", token]
        if allow is not None:
            allow_path = os.path.join(self.workdir, "allow.json")
            with open(allow_path, "w") as f:
                json.dump(list(allow), f)
            argv += ["--allow", allow_path]
        if bookmark_interval is not None:
            argv += ["--bookmark-interval", str(bookmark_interval)]
        if history_size is not None:
            argv += ["--history-size", str(history_size)]
        if tls:
            from testbed import certs
            ca = certs.make_ca()
            leaf = certs.make_cert(ca, ["localhost"], ips=["127.0.0.1"])
            crt, key = leaf.write(self.workdir, "apiserver")
            self.ca_file = os.path.join(self.workdir, "apiserver-ca.crt")
            ca.write_cert(self.ca_file)
            argv += ["--tls-cert", crt, "--tls-key", key]
            self._ssl = ssl.create_default_context(cafile=self.ca_file)
        argv += list(extra_args)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self._write_kubeconfig()
        # The token as a file too, like the service-account token mount.
        self.token_file = os.path.join(self.workdir, "token")
        self._write_token(self.token_file)
        self.sa_dir = None
        self.proc = procs.start("kube-apiserver", argv, ready=self._ready,
                                timeout=10)

    def _write_kubeconfig(self):
        cluster = {"server": self.url}
        if self.ca_file:
            cluster["certificate-authority"] = self.ca_file
        user = {"token": self.token} if self.token else {}
        cfg = {"apiVersion": "v1", "kind": "Config",
               "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "portico", "user": user}],
               "contexts": [{"name": "fake", "context": {
                   "cluster": "fake", "user": "portico",
                   "namespace": "default"}}],
               "current-context": "fake"}
        with open(self.kubeconfig, "w") as f:
            json.dump(cfg, f, indent=1)

    def _ready(self):
        status, _ = self.request("GET", "/healthz", timeout=0.5)
        return status == 200

    # --- plain HTTP -------------------------------------------------------

    def _conn(self, timeout):
        if self._ssl is not None:
            return http.client.HTTPSConnection(self.host, self.port,
                                               timeout=timeout,
                                               context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def _headers(self, token, content_type, headers):
        h = {"Accept": "application/json"}
        if token is _DEFAULT:
            token = self.token
        if token:
            h["Authorization"] = f"Bearer {token}"
        if content_type:
            h["Content-Type"] = content_type
        h.update(headers or {})
        return h

    def request(self, method, path, body=None, content_type=None,
                token=_DEFAULT, headers=None, timeout=REQUEST_TIMEOUT,
                raw=False):
        """(status, parsed JSON body or text); with raw=True
        (status, headers, bytes).  Status 0 means the connection failed."""
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            content_type = content_type or "application/json"
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=data,
                         headers=self._headers(token, content_type, headers))
            resp = conn.getresponse()
            payload = resp.read()
        except OSError:
            return 0, None
        finally:
            conn.close()
        if raw:
            return resp.status, resp.headers, payload
        try:
            return resp.status, json.loads(payload)
        except ValueError:
            return resp.status, payload.decode(errors="replace")

    def _ok(self, method, path, body=None, content_type=None):
        status, out = self.request(method, path, body, content_type)
        if not 200 <= status < 300:
            raise ApiError(status, out, f"{method} {path}")
        return out

    def get(self, path):
        """GET a path; the JSON body (raises ApiError unless 2xx)."""
        return self._ok("GET", path)

    def create(self, obj, namespace=None):
        """POST obj to its collection (from kind + metadata.namespace)."""
        ns = namespace or obj.get("metadata", {}).get("namespace") or "default"
        return self._ok("POST", kind_path(obj["kind"], ns), obj)

    def put(self, obj, subresource=None):
        meta = obj["metadata"]
        return self._ok("PUT", kind_path(obj["kind"],
                                         meta.get("namespace", "default"),
                                         meta["name"], subresource), obj)

    def patch(self, kind, name, patch, content_type="application/"
              "merge-patch+json", namespace="default", subresource=None):
        return self._ok("PATCH", kind_path(kind, namespace, name, subresource),
                        patch, content_type)

    def delete(self, kind, name, namespace="default"):
        return self._ok("DELETE", kind_path(kind, namespace, name))

    def list(self, path, **params):
        q = urllib.parse.urlencode(params)
        return self.get(f"{path}?{q}" if q else path)

    def watch(self, path, timeout=REQUEST_TIMEOUT, token=_DEFAULT, **params):
        """Open a watch (watch=1 added); returns a WatchStream."""
        params.setdefault("watch", "1")
        q = urllib.parse.urlencode(params)
        conn = self._conn(timeout)
        conn.request("GET", f"{path}?{q}",
                     headers=self._headers(token, None, None))
        return WatchStream(conn, conn.getresponse())

    # --- kubectl ------------------------------------------------------------

    def kubectl(self, *args, input=None, timeout=KUBECTL_TIMEOUT):
        argv = [KUBECTL, f"--kubeconfig={self.kubeconfig}",
                "--request-timeout=10s",
                f"--cache-dir={os.path.join(self.workdir, 'kube-cache')}",
                *args]
        env = dict(os.environ, HOME=self.workdir)
        env.pop("KUBECONFIG", None)
        return subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              timeout=timeout, env=env)

    def kubectl_popen(self, *args):
        """kubectl in the background (e.g. get --watch) as a KubectlStream:
        read its output with line(timeout); stop() kills it."""
        argv = [KUBECTL, f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={os.path.join(self.workdir, 'kube-cache')}",
                *args]
        env = dict(os.environ, HOME=self.workdir)
        env.pop("KUBECONFIG", None)
        return KubectlStream(subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, start_new_session=True))

    # --- admin API (/__fake/) --------------------------------------------------

    def _admin(self, method, op, body=None):
        status, out = self.request(method, f"/__fake/{op}", body, token=None)
        if status != 200:
            raise ApiError(status, out, f"admin {op}")
        return out

    def state(self):
        return self._admin("GET", "state")

    def close_watches(self, mode="clean"):
        return self._admin("POST", "close-watches", {"mode": mode})["closed"]

    def fail_next(self, n, code, path_prefix=None, retry_after=1,
                  method=None):
        self._admin("POST", "fail", {"count": n, "code": code,
                                     "pathPrefix": path_prefix,
                                     "retryAfter": retry_after,
                                     "method": method})

    def delay(self, seconds, path_prefix=None):
        self._admin("POST", "delay", {"seconds": seconds,
                                      "pathPrefix": path_prefix})

    def reset_faults(self):
        self._admin("POST", "reset-faults", {})

    def restart(self, lose_history=True, keep_objects=True, mode="reset"):
        return self._admin("POST", "restart", {
            "loseHistory": lose_history, "keepObjects": keep_objects,
            "mode": mode})

    def expire_continue(self):
        self._admin("POST", "expire-continue", {})

    def bookmark_now(self):
        self._admin("POST", "bookmark", {})

    def set_bookmark_interval(self, seconds):
        self._admin("PUT", "bookmark-interval", {"seconds": seconds})

    def access_log(self):
        return self._admin("GET", "access-log")["entries"]

    def clear_access_log(self):
        self._admin("DELETE", "access-log")

    DNSENDPOINT_CRD = "dnsendpoints.externaldns.k8s.io"

    def remove_crd(self, name=DNSENDPOINT_CRD):
        """Delete the CRD: its objects go (DELETED events), then its paths
        answer 404 "404 page not found" as on a cluster without it."""
        self._admin("DELETE", f"crds/{name}")

    def install_crd(self, name=DNSENDPOINT_CRD):
        self._admin("POST", f"crds/{name}")

    def set_allow(self, rules):
        """rules: list of "verb resource" strings, or None to allow all."""
        self._admin("PUT", "allow", {"rules": None if rules is None
                                     else list(rules)})

    def in_cluster(self, namespace="default"):
        """A service-account directory (token, ca.crt, namespace) like the
        pod mount /var/run/secrets/kubernetes.io/serviceaccount, and the
        environment a pod gets: returns (sa_dir, env).  rotate_token()
        keeps its token file current."""
        if not self.ca_file:
            raise ValueError("in-cluster config needs the TLS server")
        self.sa_dir = os.path.join(self.workdir, "serviceaccount")
        os.makedirs(self.sa_dir, exist_ok=True)
        with open(self.ca_file) as src, \
                open(os.path.join(self.sa_dir, "ca.crt"), "w") as dst:
            dst.write(src.read())
        with open(os.path.join(self.sa_dir, "namespace"), "w") as f:
            f.write(namespace)
        self._write_token(os.path.join(self.sa_dir, "token"))
        return self.sa_dir, {"KUBERNETES_SERVICE_HOST": self.host,
                             "KUBERNETES_SERVICE_PORT": str(self.port)}

    def _write_token(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.token or "")
        os.replace(tmp, path)           # readers never see a partial token

    def set_tokens(self, tokens):
        """Accept exactly these bearer tokens from now on (token rotation);
        None turns authentication off.  Does not touch kubeconfig/token_file:
        use rotate_token() for that."""
        self._admin("PUT", "tokens", {"tokens": None if tokens is None
                                      else list(tokens)})

    def rotate_token(self, new, keep_old=False):
        """Server accepts `new` (and the old one if keep_old); the token
        file and kubeconfig are rewritten with `new`."""
        self.set_tokens([new, self.token] if keep_old else [new])
        self.token = new
        self._write_token(self.token_file)
        if self.sa_dir:
            self._write_token(os.path.join(self.sa_dir, "token"))
        self._write_kubeconfig()

    def wait_watches(self, n, timeout=5.0):
        """Wait until at least n watch streams are open on the server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state()["openWatches"] >= n:
                return
            time.sleep(0.02)
        raise AssertionError(f"fewer than {n} watches open: {self.state()}")


@pytest.fixture
def fake_apiserver_factory(procs, tmp_path):
    count = [0]

    def make(**kw):
        count[0] += 1
        return FakeApiServer(procs, tmp_path / f"kube-apiserver{count[0]}",
                             **kw)
    return make


@pytest.fixture
def fake_apiserver(fake_apiserver_factory):
    """A fresh fake kube-apiserver with token auth, everything allowed."""
    return fake_apiserver_factory()


@pytest.fixture(scope="module")
def fake_apiserver_module(tmp_path_factory):
    """One fake kube-apiserver shared by a test module, for read-only or
    self-cleaning tests (e.g. parametrized selector tables): saves the
    process start per test.  Tests must not leave faults or allow-lists
    behind."""
    from testbed.procs import ProcRegistry
    registry = ProcRegistry(tmp_path_factory.mktemp("kube-apiserver-module"))
    try:
        yield FakeApiServer(registry, os.path.join(registry.log_dir, "srv"))
    finally:
        registry.stop_all()
