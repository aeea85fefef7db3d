"""Publishing that never loses a DNS record (issue 11), against the API
stand-in with the real controller and nginx:

- a rolling restart of two replicas never leaves an Ingress without an
  address (status sampled every 50 ms), and the last replica to stop
  still clears it (--update-status-on-shutdown, decided from the pod list
  as ingress-nginx does);
- a missing (404) or forbidden (403) DNSEndpoint API costs the
  DNSEndpoints alone: every status is written, one Event and a metric say
  why, and DNSEndpoints come once the CRD is installed;
- a DNSEndpoint that is not ours is never changed or deleted: the clash
  is reported (Event, metric, log);
- a load balancer with both an ip and a hostname has both published, and
  a NodePort publish Service falls back as ingress-nginx's (externalIPs,
  else the ClusterIP; every type is in tests/unit test_kube_publish.c);
  without an address the status is never emptied;
- every ExternalDNS annotation is reflected in the DNSEndpoint as
  ExternalDNS's ingress source would produce it (the oracle below follows
  kubernetes-sigs/external-dns v0.22.0 line by line), under the prefix
  ExternalDNS reads (--externaldns-annotation-prefix)."""
import ipaddress
import socket
import threading
import time

import pytest

from testbed.controller import CONTROLLER, ControllerUnderTest, eventually

NS = "team"
ING = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"
DNSEP = f"/apis/externaldns.k8s.io/v1alpha1/namespaces/{NS}/dnsendpoints"
EVENTS = "/api/v1/events"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/portico-leader"
NEW = "external-dns.kubernetes.io/"          # ExternalDNS >= v0.22
ALPHA = "external-dns.alpha.kubernetes.io/"  # ExternalDNS <= v0.21
OWNER_ID = "default/portico-leader"
SAMPLE_S = 0.05
APP = {"app.kubernetes.io/name": "portico",
       "app.kubernetes.io/instance": "portico"}


# --- objects -----------------------------------------------------------------

CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"},
         "spec": {"controller": "portico.io/ingress-controller"}}


def ingress(name, hosts, port, annotations=None, tls_hosts=()):
    meta = {"name": name, "namespace": NS}
    if annotations:
        meta["annotations"] = annotations
    spec = {"ingressClassName": "portico", "rules": [
        {"host": h, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "alpha",
                                    "port": {"number": port}}}}]}}
        for h in hosts]}
    if tls_hosts:
        spec["tls"] = [{"hosts": list(tls_hosts)}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta, "spec": spec}


def dnsendpoint(name, labels=None, annotations=None, owner_uid=None,
                target="203.0.113.99"):
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if owner_uid:
        meta["ownerReferences"] = [{
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "name": name, "uid": owner_uid, "controller": True}]
    return {"apiVersion": "externaldns.k8s.io/v1alpha1",
            "kind": "DNSEndpoint", "metadata": meta,
            "spec": {"endpoints": [{"dnsName": f"{name}.other.example",
                                    "recordType": "A",
                                    "targets": [target]}]}}


def pod(api, name, labels, phase="Running", finalizer=False):
    """The Pod a replica runs in. With finalizer, a DELETE only marks it
    (deletionTimestamp), as a graceful deletion does while the kubelet
    stops the containers."""
    meta = {"name": name, "namespace": "default", "labels": labels}
    if finalizer:
        meta["finalizers"] = ["test.portico.io/graceful"]
    api.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": {"containers": [{"name": "controller",
                                         "image": "portico"}]}})
    api.patch("Pod", name, {"status": {"phase": phase}}, subresource="status")


def pod_gone(api, name):
    """The kubelet confirmed the stop: the Pod leaves the API."""
    api.patch("Pod", name, {"metadata": {"finalizers": None}})


@pytest.fixture
def backend(http_backend, cluster_dns):
    b = http_backend(addr="127.0.0.2", name="alpha")
    cluster_dns.set(f"alpha.{NS}.svc.cluster.local", b.addr)
    return b


def seed(api, backend):
    api.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS}})
    api.create({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "alpha", "namespace": NS},
                "spec": {"ports": [{"name": "http", "port": backend.port,
                                    "targetPort": backend.port}]}})
    api.create(CLASS)


class Controller(ControllerUnderTest):
    def __init__(self, procs, tmp_path, api, dns, name="portico-a",
                 extra=()):
        self.name = name
        super().__init__(tmp_path / f"state-{name}")
        argv = [CONTROLLER, f"--kubeconfig={api.kubeconfig}",
                f"--pod-name={name}", "--lease-namespace=default",
                *self.common_argv(dns.server), *extra]
        self.proc = procs.start(name, argv, ready=self.ready, timeout=20)


def status(api, name):
    return api.get(f"{ING}/{name}").get("status", {}).get(
        "loadBalancer", {}).get("ingress")


def dnseps(api):
    return {d["metadata"]["name"]: d for d in api.get(DNSEP)["items"]}


def events(api, reason):
    return [e for e in api.get(EVENTS)["items"] if e["reason"] == reason]


def lease_holder(api):
    code, body = api.request("GET", LEASE)
    return (body["spec"].get("holderIdentity") or None) if code == 200 \
        else None


class Sampler:
    """Reads every Ingress's status every 50 ms on a thread; remembers
    each sample where one of them had no address, and the longest gap
    between two samples (a loaded machine makes some slower)."""

    def __init__(self, api, names):
        self.api, self.names = api, names
        self.samples, self.empty, self.errors = 0, [], 0
        self.started = time.monotonic()
        self.last, self.max_gap = self.started, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                items = {i["metadata"]["name"]: i
                         for i in self.api.get(ING)["items"]}
                for n in self.names:
                    lb = items[n].get("status", {}).get(
                        "loadBalancer", {}).get("ingress")
                    if not lb:
                        self.empty.append((t, n))
                self.samples += 1
                now = time.monotonic()
                self.max_gap = max(self.max_gap, now - self.last)
                self.last = now
            except Exception:     # the API stand-in is busy: not a sample
                self.errors += 1
            self._stop.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.samples, self.empty

    def rate(self):
        """Samples per second over the run."""
        return self.samples / max(1e-3, self.last - self.started)


class Watcher:
    """Every write to the Ingresses, read from a watch on a thread: where
    the 50 ms sampler can miss a short window, a watch misses no write.
    Remembers each version of the named Ingresses without an address
    (resourceVersion, name)."""

    def __init__(self, api, names):
        self.api, self.names = api, names
        self.empty, self.seen, self.errors = [], 0, []
        self.rv = api.get(ING)["metadata"]["resourceVersion"]
        self._stopping = False
        self.stream = self._open()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _open(self):
        return self.api.watch(ING, resourceVersion=self.rv,
                              timeoutSeconds="600")

    def _run(self):
        while not self._stopping:
            try:
                ev = self.stream.next(timeout=600)
            except (OSError, ValueError):   # stop() shut the socket
                return
            if ev is None:          # the server ended it: on from self.rv
                self.stream.close()
                if not self._stopping:
                    self.stream = self._open()
                continue
            obj = ev.get("object", {})
            if ev.get("type") == "ERROR":
                self.errors.append(obj)
                return
            self.rv = obj["metadata"]["resourceVersion"]
            if ev["type"] != "MODIFIED" or \
                    obj["metadata"]["name"] not in self.names:
                continue
            self.seen += 1
            if not obj.get("status", {}).get("loadBalancer", {}).get(
                    "ingress"):
                self.empty.append((int(self.rv), obj["metadata"]["name"]))

    def stop(self):
        self._stopping = True
        try:
            self.stream.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self._thread.join(5)
        self.stream.close()


# --- status across a rolling restart -------------------------------------------

def test_a_rolling_restart_of_two_replicas_never_leaves_an_ingress_without_an_address(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    names = ["shop", "blog", "news"]
    for n in names:
        api.create(ingress(n, [f"{n}.test"], backend.port))
    extra = ("--publish-status-address=192.0.2.10,lb.example.net",
             "--update-status-on-shutdown",
             "--replica-selector=app.kubernetes.io/name=portico,"
             "app.kubernetes.io/instance=portico")
    want = [{"ip": "192.0.2.10"}, {"hostname": "lb.example.net"}]
    old = {**APP, "pod-template-hash": "old"}
    new = {**APP, "pod-template-hash": "new"}
    ctls = {}
    for n in ("portico-a", "portico-b"):
        pod(api, n, old, finalizer=True)
        ctls[n] = Controller(procs, tmp_path, api, cluster_dns, name=n,
                             extra=extra)
    for n in names:
        eventually(lambda n=n: status(api, n) == want)
    sampler = Sampler(api, names)
    watcher = Watcher(api, names)

    # The Deployment's rollout, one replica at a time (maxSurge 1,
    # maxUnavailable 0): the new Pod is ready, then an old one is deleted
    # (marked, SIGTERM, gone).
    for old_name, new_name in (("portico-a", "portico-c"),
                               ("portico-b", "portico-d")):
        pod(api, new_name, new, finalizer=True)
        ctls[new_name] = Controller(procs, tmp_path, api, cluster_dns,
                                    name=new_name, extra=extra)
        eventually(lambda c=ctls[new_name]: c.get("shop.test") == 200)
        api.delete("Pod", old_name)
        assert ctls[old_name].proc.stop() == 0
        pod_gone(api, old_name)
        assert "the Ingress status stays: 2 other replicas run" in \
            ctls[old_name].proc.log_text()
        # A new leader takes over (lease released, then retry period).
        eventually(lambda o=old_name: lease_holder(api) not in (None, o),
                   timeout=10)
    time.sleep(1)
    samples, empty = sampler.stop()
    assert empty == [], f"{len(empty)} of {samples} samples without address"
    # Sampled all along (20/s asked; the shared machine gives less; the
    # count follows the rollout's length, the rate and the gaps do not).
    assert sampler.rate() >= 5, (samples, sampler.rate())
    assert sampler.max_gap < 2.0, sampler.max_gap
    for n in names:
        assert status(api, n) == want

    # Scaled to zero: both Pods are deleted at once; the last replica to
    # look finds none running and clears the status.
    scale_down = int(api.get(ING)["metadata"]["resourceVersion"])
    for n in ("portico-c", "portico-d"):
        api.delete("Pod", n)
    for n in ("portico-c", "portico-d"):
        ctls[n].proc.signal(15)
    for n in ("portico-c", "portico-d"):
        assert ctls[n].proc.stop() == 0
    for n in names:
        assert status(api, n) is None
    # The watch saw those clears (so it was reading all along), and no
    # write without an address before them: not even for a moment.
    eventually(lambda: {n for _, n in watcher.empty} == set(names))
    watcher.stop()
    assert watcher.errors == []
    early = [(rv, n) for rv, n in watcher.empty if rv <= scale_down]
    assert early == [], f"written without an address: {early}"
    logs = ctls["portico-c"].proc.log_text() + \
        ctls["portico-d"].proc.log_text()
    assert "no other replica runs: this is the last replica" in logs


def test_without_its_pod_a_replica_never_clears_the_status(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    """When the pod list cannot tell (here: no Pod of that name), the
    status stays: a record kept a little long beats one deleted."""
    api = fake_apiserver
    seed(api, backend)
    api.create(ingress("shop", ["shop.test"], backend.port))
    ctl = Controller(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-status-address=192.0.2.10",
        "--update-status-on-shutdown"))
    eventually(lambda: status(api, "shop") == [{"ip": "192.0.2.10"}])
    assert ctl.proc.stop() == 0
    assert status(api, "shop") == [{"ip": "192.0.2.10"}]
    assert "the Ingress status stays: the replicas' labels are unknown" in \
        ctl.proc.log_text()


# --- the DNSEndpoint API missing or forbidden -----------------------------------

ALL_BUT_DNSENDPOINTS = [
    "list ingresses", "watch ingresses", "list ingressclasses",
    "watch ingressclasses", "patch ingresses/status", "list services",
    "watch services", "list secrets", "watch secrets", "list events",
    "create events", "patch events", "get leases", "create leases",
    "update leases", "list pods",
    "get ingresses"]            # the test's own reads


@pytest.mark.parametrize("why", ["missing", "forbidden"])
def test_a_missing_or_forbidden_dnsendpoint_api_still_gets_every_status_written(
        procs, tmp_path, fake_apiserver_factory, cluster_dns, backend, why):
    api = fake_apiserver_factory()
    seed(api, backend)
    pod(api, "portico-a", APP)
    names = [f"app{i}" for i in range(5)]
    for n in names:
        api.create(ingress(n, [f"{n}.test"], backend.port))
    if why == "missing":
        api.remove_crd()
    else:
        api.set_allow(ALL_BUT_DNSENDPOINTS)
    ctl = Controller(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-status-address=192.0.2.10", "--publish-dnsendpoints"))
    for n in names:
        eventually(lambda n=n: status(api, n) == [{"ip": "192.0.2.10"}])
    eventually(lambda: ctl.metric(
        "portico_controller_dnsendpoints_api_available") == 0)
    api.set_allow(None)       # the test reads Events now
    ev = eventually(lambda: events(api, "DNSEndpointsUnavailable"))
    assert len(ev) == 1
    assert ev[0]["type"] == "Warning"
    assert ev[0]["involvedObject"]["kind"] == "Pod"
    assert ev[0]["involvedObject"]["name"] == "portico-a"
    assert ev[0]["involvedObject"]["uid"] == api.get(
        "/api/v1/namespaces/default/pods/portico-a")["metadata"]["uid"]
    assert ("not installed" if why == "missing" else "not allowed") in \
        ev[0]["message"]
    # Said once, however often the list is retried meanwhile.
    time.sleep(2)
    assert len(events(api, "DNSEndpointsUnavailable")) == 1
    assert events(api, "DNSEndpointsUnavailable")[0]["count"] == 1
    assert ctl.proc.log_text().count(
        "DNSEndpoints are not published meanwhile") == 1

    # Installed (or allowed): the DNSEndpoints come with the next retry.
    if why == "missing":
        api.install_crd()
    eventually(lambda: set(dnseps(api)) == set(names), timeout=40)
    eventually(lambda: ctl.metric(
        "portico_controller_dnsendpoints_api_available") == 1)
    if why == "missing":
        # And deleted again: the status stays.
        api.remove_crd()
        eventually(lambda: ctl.metric(
            "portico_controller_dnsendpoints_api_available") == 0)
        api.create(ingress("late", ["late.test"], backend.port))
        eventually(lambda: status(api, "late") == [{"ip": "192.0.2.10"}])
        assert all(status(api, n) == [{"ip": "192.0.2.10"}] for n in names)


# --- ownership -----------------------------------------------------------------

def test_a_foreign_dnsendpoint_is_untouched_and_the_clash_reported(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    pod(api, "portico-a", APP)
    for n in ("own", "plain", "labelled", "other"):
        api.create(ingress(n, [f"{n}.test"], backend.port))
    uid = {n: api.get(f"{ING}/{n}")["metadata"]["uid"]
           for n in ("own", "plain", "labelled", "other")}
    ours = {"app.kubernetes.io/managed-by": "portico-controller"}
    # Another tool's, unlabelled; one with our label but no owner
    # reference; one of another Portico installation.
    api.create(dnsendpoint("plain"))
    api.create(dnsendpoint("labelled", labels=ours))
    api.create(dnsendpoint("other", labels=ours,
                           annotations={"portico.io/owner":
                                        "edge/portico-leader"},
                           owner_uid=uid["other"]))
    before = {n: d["metadata"]["resourceVersion"]
              for n, d in dnseps(api).items()}
    ctl = Controller(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-status-address=192.0.2.10", "--publish-dnsendpoints"))
    eventually(lambda: "own" in dnseps(api))
    mine = dnseps(api)["own"]
    assert mine["metadata"]["annotations"]["portico.io/owner"] == OWNER_ID
    assert mine["metadata"]["ownerReferences"][0]["uid"] == uid["own"]

    eventually(lambda: len(events(api, "DNSEndpointConflict")) == 3)
    clashes = {e["involvedObject"]["name"]: e
               for e in events(api, "DNSEndpointConflict")}
    assert set(clashes) == {"plain", "labelled", "other"}
    assert all(e["type"] == "Warning" and e["count"] == 1
               for e in clashes.values())
    eventually(lambda: ctl.metric(
        "portico_controller_dnsendpoint_conflicts") == 3)
    assert "DNSEndpoint team/plain exists and is not this controller's" in \
        ctl.proc.log_text()
    # Left alone: not one write to them, now or later.
    time.sleep(2)
    now = dnseps(api)
    for n in ("plain", "labelled", "other"):
        assert now[n]["metadata"]["resourceVersion"] == before[n], n
    # Their Ingresses gone: still left alone (ours goes with its Ingress).
    for n in ("plain", "own"):
        api.delete("Ingress", n, namespace=NS)
    eventually(lambda: "own" not in dnseps(api))
    assert dnseps(api)["plain"]["metadata"]["resourceVersion"] == \
        before["plain"]
    # The name freed (the foreign one we watch deleted): ours is created.
    api.delete("DNSEndpoint", "labelled", namespace=NS)
    eventually(lambda: dnseps(api).get("labelled", {}).get(
        "metadata", {}).get("annotations", {}).get("portico.io/owner") ==
        OWNER_ID)
    eventually(lambda: ctl.metric(
        "portico_controller_dnsendpoint_conflicts") == 1)
    writes = [e for e in api.access_log()
              if e["resource"] == "dnsendpoints" and
              e["method"] in ("PATCH", "PUT", "DELETE") and
              e["name"] in ("plain", "labelled", "other")
              and e["user_agent"].startswith("portico-controller")]
    assert writes == []


# --- addresses -------------------------------------------------------------------

def test_ip_and_hostname_both_published_and_the_publish_service_by_type(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    pod(api, "portico-a", APP)
    api.create({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "portico", "namespace": "default"},
                "spec": {"type": "LoadBalancer",
                         "ports": [{"name": "http", "port": 80}]}})
    api.patch("Service", "portico", {"status": {"loadBalancer": {"ingress": [
        {"ip": "203.0.113.7", "hostname": "lb-7.example.net"}]}}},
        subresource="status")
    api.create(ingress("shop", ["shop.test"], backend.port))
    ctl = Controller(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-service=default/portico", "--publish-dnsendpoints"))
    both = [{"ip": "203.0.113.7", "hostname": "lb-7.example.net"}]
    eventually(lambda: status(api, "shop") == both)
    # ExternalDNS's ingress source reads both (targetsFromIngressStatus):
    # an A and a CNAME record; so does the DNSEndpoint.
    eventually(lambda: "shop" in dnseps(api))
    assert records(dnseps(api)["shop"]) == {
        ("shop.test", "A"): {"targets": ["203.0.113.7"]},
        ("shop.test", "CNAME"): {"targets": ["lb-7.example.net"]}}

    # The load balancer loses its address: nothing is emptied.
    api.patch("Service", "portico", {"status": {"loadBalancer": {
        "ingress": None}}}, subresource="status")
    eventually(lambda: "(none: the Ingress status and DNSEndpoints are "
               "left as they are)" in ctl.proc.log_text())
    time.sleep(1)
    assert status(api, "shop") == both
    assert "shop" in dnseps(api)

    # NodePort: its externalIPs, else its ClusterIP (ingress-nginx's
    # statusAddressFromService); ClusterIP: its ClusterIP.
    svc = api.get("/api/v1/namespaces/default/services/portico")
    cluster_ip = svc["spec"]["clusterIP"]
    api.patch("Service", "portico", {"spec": {
        "type": "NodePort", "externalIPs": ["198.51.100.5"]}})
    eventually(lambda: status(api, "shop") == [{"ip": "198.51.100.5"}])
    api.patch("Service", "portico", {"spec": {"externalIPs": None}})
    eventually(lambda: status(api, "shop") == [{"ip": cluster_ip}])
    eventually(lambda: records(dnseps(api)["shop"]) == {
        ("shop.test", "A"): {"targets": [cluster_ip]}})


# --- ExternalDNS annotations --------------------------------------------------------
#
# The oracle: what ExternalDNS's ingress source makes of an Ingress,
# written from kubernetes-sigs/external-dns v0.22.0 (source/ingress.go,
# source/annotations/*.go, endpoint/utils.go, endpoint/endpoint.go), not
# from Portico's C code.

def go_duration_seconds(s):
    """time.ParseDuration, as whole seconds; None when Go refuses it."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
             "s": 1, "m": 60, "h": 3600}
    sign, rest = 1, s
    if rest[:1] in "+-" and rest:
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        return None
    total = 0.0
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        if i == 0 or rest[:i] == ".":
            return None
        num = float(rest[:i])
        unit = max((u for u in units if rest[i:].startswith(u)), key=len,
                   default=None)
        if unit is None:
            return None
        total += num * units[unit]
        rest = rest[i + len(unit):]
    return int(sign * total)


def ttl_of(ann, p):
    """processors.go TTLFromAnnotations (L38-54) and parseTTL (L81-92)."""
    v = ann.get(p + "ttl")
    if v is None:
        return 0
    secs = go_duration_seconds(v)
    if secs is None:
        try:
            secs = int(v, 10)
        except ValueError:
            return 0
    return secs if 1 <= secs <= 2**31 - 1 else 0


def split_annotation(v):
    """processors.go SplitHostnameAnnotation (L139-141)."""
    return v.replace(" ", "").strip().split(",")


def suitable_type(t):
    """endpoint/utils.go SuitableType (L37-46)."""
    try:
        return "A" if ipaddress.ip_address(t).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def provider_specific(ann, p):
    """provider_specific.go ProviderSpecificAnnotations (L23-104)."""
    ps, set_id = [], ""
    if ann.get(p + "alias") == "true":
        ps.append(("alias", "true"))
    if p + "record-type" in ann:
        ps.append(("record-type", ann[p + "record-type"]))
    for k, v in ann.items():
        if k == p + "set-identifier":
            set_id = v
        for pre, prov in (("aws-", "aws"), ("scw-", "scw"),
                          ("webhook-", "webhook"), ("coredns-", "coredns")):
            if k.startswith(p + pre):
                ps.append((f"{prov}/{k[len(p + pre):]}", v))
                break
        else:
            if k == p + "azure-tags":
                ps.append(("azure/tags", v))
            elif k.startswith(p + "cloudflare-"):
                for cf in ("cloudflare-custom-hostname", "cloudflare-proxied",
                           "cloudflare-region-key",
                           "cloudflare-record-comment", "cloudflare-tags"):
                    if p + cf in k:
                        ps.append((p + cf, v))
                        break
    return sorted(ps), set_id


def external_dns_ingress_source(ing, p):
    """source/ingress.go endpointsFromIngress (L230-290) then
    endpoint.MergeEndpoints (utils.go L153-200): {(dnsName, type):
    {"targets": sorted, "ttl"?, "set"?, "ps"?}}, or None when
    IsControllerMatch (annotations/processors.go L59-74) skips it."""
    ann = ing["metadata"].get("annotations", {})
    if p + "controller" in ann and ann[p + "controller"] != "dns-controller":
        return None
    ttl = ttl_of(ann, p)
    targets = []
    if ann.get(p + "target"):                 # TargetsFromTargetAnnotation
        targets = [t.rstrip(".") for t in split_annotation(ann[p + "target"])]
    else:                                     # targetsFromIngressStatus
        for lb in ing.get("status", {}).get("loadBalancer", {}).get(
                "ingress", []) or []:
            targets += [v for v in (lb.get("ip"), lb.get("hostname")) if v]
    ps, set_id = provider_specific(ann, p)
    defined = [r["host"] for r in ing["spec"].get("rules", [])
               if r.get("host")]
    for t in ing["spec"].get("tls", []):
        defined += [h for h in t.get("hosts", []) if h]
    annotated = split_annotation(ann[p + "hostname"]) \
        if p + "hostname" in ann else []
    source = ann.get(p + "ingress-hostname-source")
    if source is None:
        hosts = defined + annotated
    else:
        hosts = (defined if source.lower() == "defined-hosts-only" else []) \
            + (annotated if source.lower() == "annotation-only" else [])
    out = {}
    for h in hosts:                           # EndpointsForHostname
        for t in targets:
            e = out.setdefault((h.rstrip("."), suitable_type(t)),
                               {"targets": set()})
            e["targets"].add(t)
    for e in out.values():
        e["targets"] = sorted(e["targets"])
        if ttl:
            e["ttl"] = ttl
        if set_id:
            e["set"] = set_id
        if ps:
            e["ps"] = ps
    return out


def records(dep):
    """The same shape, read from a DNSEndpoint."""
    out = {}
    for e in dep["spec"]["endpoints"]:
        r = {"targets": sorted(e["targets"])}
        if e.get("recordTTL"):
            r["ttl"] = e["recordTTL"]
        if e.get("setIdentifier"):
            r["set"] = e["setIdentifier"]
        if e.get("providerSpecific"):
            r["ps"] = sorted((x["name"], x["value"])
                             for x in e["providerSpecific"])
        out[(e["dnsName"], e["recordType"])] = r
    return out


def annotated(p):
    """One Ingress per ExternalDNS annotation (and the combinations whose
    meaning depends on each other), annotations under prefix p."""
    return {
        "plain": {},
        "hostname": {p + "hostname": "api.example.com, docs.example.com."},
        "target": {p + "target": "edge.example.net., 198.51.100.4"},
        "ttl": {p + "ttl": "10m"},
        "ttl-seconds": {p + "ttl": "120"},
        "ttl-bad": {p + "ttl": "soon"},
        "set-identifier": {p + "set-identifier": "eu-west"},
        "defined-hosts-only": {p + "hostname": "x.example.com",
                               p + "ingress-hostname-source":
                                   "defined-hosts-only"},
        "annotation-only": {p + "hostname": "y.example.com",
                            p + "ingress-hostname-source":
                                "Annotation-Only"},
        "hostname-source-other": {p + "hostname": "z.example.com",
                                  p + "ingress-hostname-source": "all"},
        "aws": {p + "aws-weight": "100", p + "set-identifier": "blue",
                p + "alias": "true"},
        "cloudflare": {p + "cloudflare-proxied": "true",
                       p + "cloudflare-tags": "team:shop"},
        "cloudflare-rest": {p + "cloudflare-custom-hostname": "c.example",
                            p + "cloudflare-region-key": "eu",
                            p + "cloudflare-record-comment": "shop",
                            p + "cloudflare-unknown": "dropped"},
        "alias-not-true": {p + "alias": "false"},
        "target-empty": {p + "target": ""},
        "ttl-out-of-range": {p + "ttl": "0"},
        "providers": {p + "scw-x": "1", p + "webhook-y": "2",
                      p + "coredns-group": "g", p + "azure-tags": "a=b",
                      p + "record-type": "ptr"},
        "controller-ours": {p + "controller": "dns-controller"},
        "controller-other": {p + "controller": "someone-else"},
    }


@pytest.mark.parametrize("prefix", [NEW, ALPHA],
                         ids=["default-prefix", "alpha-prefix"])
def test_each_externaldns_annotation_shapes_the_dnsendpoint_as_the_ingress_source(
        procs, tmp_path, fake_apiserver, cluster_dns, backend, prefix):
    api = fake_apiserver
    seed(api, backend)
    other = ALPHA if prefix == NEW else NEW
    cases = annotated(prefix)
    for name, ann in cases.items():
        api.create(ingress(name, [f"{name}.test"], backend.port,
                           annotations=ann, tls_hosts=[f"tls-{name}.test"]))
    # The other prefix is not read (ExternalDNS reads one).
    api.create(ingress("other-prefix", ["other-prefix.test"], backend.port,
                       annotations={other + "ttl": "60",
                                    other + "hostname": "no.example.com"}))
    extra = ["--publish-status-address=192.0.2.10,2001:db8::10,"
             "lb.example.net", "--publish-dnsendpoints"]
    if prefix != NEW:
        extra.append(f"--externaldns-annotation-prefix={prefix}")
    Controller(procs, tmp_path, api, cluster_dns, extra=extra)
    # Skipped by ExternalDNS, or no hostname at all: no DNSEndpoint.
    none = {"controller-other", "hostname-source-other"}
    want_names = (set(cases) - none) | {"other-prefix"}

    def all_there():
        eps = dnseps(api)
        return set(eps) >= want_names and eps
    eventually(all_there, timeout=20)
    eps = dnseps(api)
    assert not none & set(eps)
    for name in sorted(set(cases) | {"other-prefix"}):
        ing = api.get(f"{ING}/{name}")
        want = external_dns_ingress_source(ing, prefix)
        if name in none:
            assert not want, name       # the oracle agrees: nothing
            continue
        assert records(eps[name]) == want, name
    # Spot checks of the oracle itself, so it cannot agree by accident.
    hosts = {h for h, _ in records(eps["hostname"])}
    assert hosts == {"hostname.test", "tls-hostname.test",
                     "api.example.com", "docs.example.com"}
    assert records(eps["target"])[("target.test", "CNAME")] == {
        "targets": ["edge.example.net"]}
    assert records(eps["ttl"])[("ttl.test", "A")]["ttl"] == 600
    assert {h for h, _ in records(eps["annotation-only"])} == \
        {"y.example.com"}
    assert ("aws/weight", "100") in \
        records(eps["aws"])[("aws.test", "A")]["ps"]
    assert (prefix + "cloudflare-proxied", "true") in \
        records(eps["cloudflare"])[("cloudflare.test", "A")]["ps"]
    assert "ttl" not in records(eps["other-prefix"])[("other-prefix.test",
                                                      "A")]
    assert sorted(records(eps["cloudflare-rest"])[
        ("cloudflare-rest.test", "A")]["ps"]) == [
        (prefix + "cloudflare-custom-hostname", "c.example"),
        (prefix + "cloudflare-record-comment", "shop"),
        (prefix + "cloudflare-region-key", "eu")]
    assert "ps" not in records(eps["alias-not-true"])[
        ("alias-not-true.test", "A")]
    # An empty target annotation: the status addresses after all.
    assert {t for _, t in records(eps["target-empty"])} == \
        {"A", "AAAA", "CNAME"}
    assert "ttl" not in records(eps["ttl-out-of-range"])[
        ("ttl-out-of-range.test", "A")]

    # A changed annotation changes the DNSEndpoint (no nginx change at all).
    api.patch("Ingress", "plain", {"metadata": {"annotations": {
        prefix + "ttl": "42"}}}, namespace=NS)
    eventually(lambda: records(dnseps(api)["plain"])[("plain.test", "A")]
               .get("ttl") == 42)
    # Now owned by another ExternalDNS controller: its DNSEndpoint goes.
    api.patch("Ingress", "plain", {"metadata": {"annotations": {
        prefix + "controller": "someone-else"}}}, namespace=NS)
    eventually(lambda: "plain" not in dnseps(api))
