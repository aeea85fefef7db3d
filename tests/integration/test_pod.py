"""The pod the chart describes, run from the image `make image` builds
(issues 10 and 18): `helm template` renders the Deployment, and each of its
containers runs under podman exactly as rendered (command, args with
$(VAR) expanded, env, uid/gid, capabilities dropped and added, none
ambient for non-root as in Kubernetes (scripts/runc-as-kubelet), no_new_privs
when allowPrivilegeEscalation is false, read-only root, volumes), in one
podman pod sharing the process namespace, on the host's loopback, pointed
at the fake API server (in-cluster config, as the kubelet mounts it) and
the Vault stand-in. Needs the image: `make pod-test` builds it first.

Proves: every container non-root with no ambient capability and a
read-only root, nginx bound to a port below 1024 through its file
capability only; the DNS sidecar answers; an Ingress created through the
API is served through the container's nginx and its status published;
the test bed's Prometheus scrapes both /metrics; a controller container
killed and restarted leaves nginx alone (same master); and the rollout:
SIGTERM to the pod under load loses no request started before the drain
ended, and a 25 s request completes."""
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import testbed
from testbed.chart import render
from testbed.controller import eventually
from test_controller_lifecycle import Load, _SlowHandler, _ThreadingServer
from test_controller_kube_api import CLASS, NS, ingress, service

pytestmark = pytest.mark.pod

PODMAN = str(testbed.REPO / "scripts" / "podman")
IMAGE = os.environ.get("PORTICO_IMAGE", "localhost/portico:dev")
DRAIN_S = 4
STATUS_IP = "127.0.0.9"


def podman(*args, check=True, timeout=120):
    p = subprocess.run([PODMAN, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {p.stdout}")
    return p.stdout


def low_free_port():
    """A free TCP port below 1024 on loopback (we run as root)."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free low port")


def expand(value, env):
    """The kubelet's $(VAR) expansion in command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: env.get(m.group(1), m.group(0)), value)


class Pod:
    """The rendered Deployment's pod, one podman container per container."""

    def __init__(self, name, spec, volumes, kube_env, field_env):
        self.name = name
        self.spec = spec
        self.volumes = volumes          # volume name -> host path
        self.kube_env = kube_env        # what the kubelet injects
        self.field_env = field_env      # fieldRef values
        self.containers = {c["name"]: c for c in spec["containers"]}

    def create(self):
        podman("pod", "rm", "-f", self.name, check=False)
        podman("pod", "create", "--name", self.name, "--network", "host",
               "--share", "pid,ipc" if self.spec.get("shareProcessNamespace")
               else "ipc")

    def argv(self, c):
        psc = self.spec.get("securityContext", {})
        sc = c.get("securityContext", {})
        env = dict(self.kube_env)
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(e["value"], env)
            else:
                env[e["name"]] = self.field_env[
                    e["valueFrom"]["fieldRef"]["fieldPath"]]
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        gid = sc.get("runAsGroup", psc.get("runAsGroup"))
        assert uid and uid != 0, "every container must run as non-root"
        a = ["run", "-d", "--pod", self.name,
             "--name", f"{self.name}-{c['name']}",
             "--user", f"{uid}:{gid}", "--init=false"]
        if psc.get("fsGroup"):
            a += ["--group-add", str(psc["fsGroup"])]
        caps = sc.get("capabilities", {})
        for cap in caps.get("drop", []):
            a += ["--cap-drop", cap]
        for cap in caps.get("add", []):
            a += ["--cap-add", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            a += ["--security-opt", "no-new-privileges"]
        if sc.get("readOnlyRootFilesystem"):
            a += ["--read-only", "--read-only-tmpfs=false"]
        for k, v in sorted(env.items()):
            a += ["--env", f"{k}={v}"]
        for m in c.get("volumeMounts", []):
            ro = ",ro" if m.get("readOnly") else ""
            a += ["--volume",
                  f"{self.volumes[m['name']]}:{m['mountPath']}:Z{ro}"]
        sa = self.volumes.get("__serviceaccount")
        if sa:
            a += ["--volume", f"{sa}:/var/run/secrets/kubernetes.io/"
                  "serviceaccount:ro"]
        a += ["--entrypoint", json.dumps([expand(x, env)
                                          for x in c["command"]]),
              IMAGE, *[expand(x, env) for x in c.get("args", [])]]
        return a

    def start(self, name):
        podman(*self.argv(self.containers[name]))

    def processes(self, name):
        """[(host pid, user, args)] of a container."""
        out = podman("top", f"{self.name}-{name}", "hpid,user,args")
        rows = []
        for line in out.splitlines()[1:]:
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0].isdigit():
                rows.append((int(parts[0]), parts[1], parts[2]))
        return rows

    def logs(self):
        out = [podman("ps", "-a", "--filter", f"pod={self.name}",
                      "--format", "{{.Names}} {{.Status}}", check=False)]
        for n in self.containers:
            out.append(f"----- {n}\n" + podman(
                "logs", f"{self.name}-{n}", check=False)[-20000:])
        return "\n".join(out)

    def remove(self):
        podman("pod", "rm", "-f", "-t", "0", self.name, check=False)


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    return {k: v.strip() for k, v in
            (line.split(":", 1) for line in text.splitlines() if ":" in line)}


@pytest.fixture
def pod(request, procs, tmp_path, fake_apiserver, fake_vault, cluster_dns,
        http_backend):
    if subprocess.run([PODMAN, "image", "exists", IMAGE]).returncode:
        pytest.fail(f"image {IMAGE} missing: run `make pod-test` (it builds "
                    "the image with `make image` first)")
    api = fake_apiserver
    ports = {"http": low_free_port(), "https": testbed.free_port(),
             "status": testbed.free_port(), "metrics": testbed.free_port(),
             "dns": testbed.free_port(), "dns_metrics": testbed.free_port()}
    docs = render(
        "--set", f"replicaCount=1,nginx.ports.http={ports['http']},"
        f"nginx.ports.https={ports['https']},"
        f"nginx.statusPort={ports['status']},"
        f"controller.metricsPort={ports['metrics']},"
        f"dnscache.port={ports['dns']},"
        f"dnscache.metricsPort={ports['dns_metrics']},"
        f"nginx.drainPeriod={DRAIN_S}s,nginx.workerProcesses=1,"
        f"vault.enabled=true,vault.address={fake_vault.addr},"
        "vault.tokenSecret=vault-token,controller.publishService=false,"
        "controller.logLevel=info",
        "--set-json", f'controller.publishStatusAddress=["{STATUS_IP}"]',
        "--set-string", "nginx.config.keep-alive=31s",
        "--set-json", f'dnscache.upstreams=["{cluster_dns.server}"]',
        # The test bed listens on loopback only.
        "--set-json", 'controller.extraArgs=["--bind-address=127.0.0.1",'
        f'"--metrics-address=127.0.0.1:{ports["metrics"]}"]',
        "--set-json", 'dnscache.extraArgs=["--metrics=127.0.0.1:'
        f'{ports["dns_metrics"]}"]')
    spec = next(d for d in docs if d["kind"] == "Deployment")[
        "spec"]["template"]["spec"]
    # Volumes as the kubelet makes them: emptyDir owned by fsGroup, the
    # token Secret, the service account mount.
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 101, 101)
    vt = tmp_path / "vault-token"
    vt.mkdir()
    (vt / "token").write_text(fake_vault.root_token)
    # The ConfigMap volume: one file per key.
    cm = tmp_path / "nginx-config"
    cm.mkdir()
    for k, v in next(d for d in docs if d["kind"] == "ConfigMap")[
            "data"].items():
        (cm / k).write_text(v)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(api.token)
    (sa / "namespace").write_text("ingress")
    (sa / "ca.crt").write_bytes(open(api.ca_file, "rb").read())
    for d in (tmp_path, vt, sa, cm):
        os.chmod(d, 0o755)
    for f in list(vt.iterdir()) + list(sa.iterdir()) + list(cm.iterdir()):
        os.chmod(f, 0o644)
    name = f"portico-test-{ports['status']}"
    p = Pod(name, spec, {"state": str(state), "vault-token": str(vt),
                         "nginx-config": str(cm),
                         "__serviceaccount": str(sa)},
            kube_env={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                      "KUBERNETES_SERVICE_PORT": str(api.port)},
            field_env={"metadata.name": name, "metadata.namespace": "ingress"})
    p.ports, p.api, p.vault, p.dns = ports, api, fake_vault, cluster_dns
    p.state = state
    backend = http_backend(addr="127.0.0.2", name="alpha")
    cluster_dns.set(f"alpha.{NS}.svc.cluster.local", backend.addr)
    api.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS}})
    api.create(service("alpha", backend.port))
    api.create(CLASS)
    p.backend = backend
    p.create()
    try:
        for c in ("dnscache", "nginx", "controller"):
            p.start(c)
        yield p
    finally:
        # Shown with a failed test's captured output.
        print(p.logs())
        p.remove()


def get(port, host, path="/", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def controller_ready(p):
    try:
        c = http.client.HTTPConnection("127.0.0.1", p.ports["metrics"],
                                       timeout=1)
        c.request("GET", "/readyz")
        return c.getresponse().status == 200
    except OSError:
        return False


def nginx_master(p):
    rows = [r for r in p.processes("nginx")
            if r[2].startswith("nginx: master process")]
    return rows[0][0] if rows else None


def test_the_rendered_pod_runs_non_root_serves_publishes_and_is_scraped(
        pod, prometheus_factory):
    p = pod
    api = p.api
    api.create(ingress("web", "web.test", "alpha", p.backend.port))
    eventually(lambda: controller_ready(p), timeout=60)
    assert eventually(lambda: get(p.ports["http"], "web.test")[0] == 200,
                      timeout=30)
    assert json.loads(get(p.ports["http"], "web.test")[1])["name"] == "alpha"
    # The nginx globals ConfigMap reached nginx.conf.
    assert "keepalive_timeout 31s;" in (p.state / "nginx.conf").read_text()

    # Non-root everywhere, no ambient capability, nothing effective but
    # nginx's NET_BIND_SERVICE (bit 10), which came from its file capability.
    for c in ("controller", "nginx", "dnscache"):
        rows = p.processes(c)
        assert rows, c
        for pid, user, args in rows:
            st = status_of(pid)
            assert st["Uid"].split()[0] == "101", (c, args, st["Uid"])
            assert int(st["CapAmb"], 16) == 0, (c, args)
            assert int(st["CapInh"], 16) == 0, (c, args)
            eff = int(st["CapEff"], 16)
            if args.startswith("nginx:"):
                assert eff in (0, 1 << 10), (c, args, hex(eff))
            else:
                assert eff == 0, (c, args, hex(eff))
            if c == "dnscache":
                assert st["NoNewPrivs"] == "1", c
    master = nginx_master(p)
    assert int(status_of(master)["CapEff"], 16) == 1 << 10
    # Read-only root in every container.
    for c in ("controller", "nginx", "dnscache"):
        out = podman("exec", f"{p.name}-{c}", "/bin/sh", "-c",
                     "touch /usr/x 2>&1; touch /var/lib/portico/w 2>&1 "
                     "&& echo state-writable", check=False)
        assert "Read-only file system" in out, (c, out)
    # The DNS sidecar answers on its non-root loopback port.
    import dns.message
    import dns.query
    q = dns.message.make_query(f"alpha.{NS}.svc.cluster.local", "A")
    a = dns.query.udp(q, "127.0.0.1", port=p.ports["dns"], timeout=2)
    assert "127.0.0.2" in a.to_text()
    # Status published for ExternalDNS.
    eventually(lambda: (api.get(
        f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web")
        .get("status", {}).get("loadBalancer", {}).get("ingress")) ==
        [{"ip": STATUS_IP}], timeout=30)
    # An ssl: "true" Ingress gets its certificate from the Vault stand-in
    # (token from the Secret mount), served over TLS by the pod's nginx.
    from testbed import certs
    issued = certs.make_cert(certs.make_ca(), ["secure.test"])
    p.vault.kv_put("ssl/secure.test", {"crt": issued.cert_pem,
                                       "key": issued.key_pem})
    secure = ingress("secure", "secure.test", "alpha", p.backend.port)
    secure["metadata"]["labels"] = {"ssl": "true"}
    api.create(secure)

    def served_cert():
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", p.ports["https"]),
                                      timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname="secure.test") as tls:
                return tls.getpeercert(binary_form=True)
    from cryptography.hazmat.primitives.serialization import Encoding
    want = issued.cert.public_bytes(Encoding.DER)
    eventually(lambda: served_cert() == want, timeout=30)
    # Both /metrics scraped by the test bed's Prometheus.
    prom = prometheus_factory([f"127.0.0.1:{p.ports['metrics']}",
                               f"127.0.0.1:{p.ports['dns_metrics']}"])
    prom.wait_for("up == 1", lambda r: len(r) == 2, timeout=30)
    prom.wait_for("portico_controller_ready == 1", timeout=30)
    prom.wait_for('{__name__=~"portico_dnscache_.+"}', timeout=30)

    # A controller container killed and restarted (crash, OOM kill,
    # upgrade): nginx is not restarted, a change made meanwhile applies.
    podman("kill", "-s", "KILL", f"{p.name}-controller")
    api.create(ingress("later", "later.test", "alpha", p.backend.port))
    assert get(p.ports["http"], "web.test")[0] == 200
    podman("start", f"{p.name}-controller")
    eventually(lambda: get(p.ports["http"], "later.test")[0] == 200,
               timeout=60)
    assert nginx_master(p) == master


@pytest.fixture
def slow_backend_pod(pod):
    srv = _ThreadingServer(("127.0.0.5", 0), _SlowHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    pod.dns.set(f"slow.{NS}.svc.cluster.local", "127.0.0.5")
    pod.api.create(service("slow", srv.server_address[1]))
    pod.api.create(ingress("slow", "slow.test", "slow",
                           srv.server_address[1]))
    yield pod
    srv.shutdown()
    srv.server_close()


def test_rollout_sigterm_to_the_pod_under_load_loses_nothing(slow_backend_pod):
    p = slow_backend_pod
    eventually(lambda: controller_ready(p), timeout=60)
    eventually(lambda: get(p.ports["http"], "slow.test", "/slow/0")[0] == 200,
               timeout=30)
    slow = {}

    def slow_request():
        t0 = time.monotonic()
        slow["result"] = get(p.ports["http"], "slow.test", "/slow/25",
                             timeout=60)
        slow["took"] = time.monotonic() - t0

    t = threading.Thread(target=slow_request)
    with Load(p.ports["http"], "slow.test", "/slow/0") as load:
        t.start()
        time.sleep(1)
        termed = time.monotonic()
        # What the kubelet does: SIGTERM to every app container at once,
        # SIGKILL when the grace period is over, and only then the pod's
        # sandbox (its pause process is PID 1 of the shared namespace).
        grace = p.spec["terminationGracePeriodSeconds"]
        stopper = subprocess.Popen(
            [PODMAN, "stop", "-t", str(grace),
             *[f"{p.name}-{c}" for c in p.containers]],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        time.sleep(DRAIN_S + 2)
    t.join(60)
    stopper.wait(90)
    drain_end = termed + DRAIN_S
    before = [(s, e, o) for s, e, o in load.results if s < drain_end - 0.2]
    failed = [x for x in before if x[2] != "200"]
    print(f"\nrollout: {len(before)} requests started before the drain "
          f"ended, {len(failed)} failed; after: "
          f"{load.outcomes(drain_end + 0.5)}; 25 s request: "
          f"{slow.get('result', (None,))[0]} in {slow.get('took', 0):.1f} s")
    if failed:
        print("first failures (s after SIGTERM):",
              [(round(st - termed, 3), o) for st, _, o in failed[:10]])
    assert len(before) > 20
    assert failed == []
    assert slow["result"][0] == 200 and slow["result"][1] == b"done\n"
    assert slow["took"] >= 25
