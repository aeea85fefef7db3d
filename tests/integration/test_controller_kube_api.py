"""portico-controller against the (fake) Kubernetes API: the real
controller binary lists and watches Ingress/IngressClass/Service/Secret
through its libcurl client, drives REAL nginx with our module (real dnsmasq
as the cluster DNS, echo backends on 127.0.0.x), publishes Ingress status
and DNSEndpoints as ExternalDNS reads them, elects one leader on a Lease,
and keeps traffic flowing while the API server misbehaves (watches closed,
restart with history lost = 410 Expired, 500s and 429s)."""
import concurrent.futures
import http.client
import json
import threading
import time

import pytest

import testbed
from testbed import chart
from testbed.controller import CONTROLLER, ControllerUnderTest, eventually

NS = "team"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/portico-leader"
ING = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"
DNSEP = f"/apis/externaldns.k8s.io/v1alpha1/namespaces/{NS}/dnsendpoints"
EVENTS = f"/api/v1/namespaces/{NS}/events"
TTL_ALPHA = "external-dns.alpha.kubernetes.io/ttl"
TTL_NEW = "external-dns.kubernetes.io/ttl"
PUBLISHED = ["192.0.2.10", "2001:db8::10", "lb.example.net"]
LEASE_DURATION_S = 15
RETRY_PERIOD_S = 2
JITTER_FACTOR = 1.2

# Exactly what the controller needs (verb resource), and nothing else.
# These are the RBAC rules to grant it (see the report / chart).
# What the Helm chart grants (ClusterRole + Role), rendered with
# DNSEndpoints on: the least-privilege test runs the controller with exactly
# these rules, so the chart can neither miss a rule nor grant a spare one.
LEAST_PRIVILEGE = chart.rbac_allow_list(
    "--set", "controller.publishDNSEndpoints=true")


# --- objects -----------------------------------------------------------------

def service(name, port, ns=NS):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": port,
                                "targetPort": port}]}}


CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"},
         "spec": {"controller": "portico.io/ingress-controller"}}


def ingress(name, host, svc, port, klass="portico", annotations=None,
            extra_hosts=()):
    rules = [{"host": h, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": svc, "port": {"number": port}}}}]}}
        for h in (host, *extra_hosts)]
    meta = {"name": name, "namespace": NS}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta,
            "spec": {"ingressClassName": klass, "rules": rules}}


# --- the controller under test -----------------------------------------------

class KubeController(ControllerUnderTest):
    """portico-controller with --kubeconfig pointing at the fake API."""

    def __init__(self, procs, tmp_path, api, dns, name="portico-a",
                 extra=(), wait_ready=True):
        self.name = name
        super().__init__(tmp_path / f"state-{name}")
        argv = [CONTROLLER, f"--kubeconfig={api.kubeconfig}",
                f"--pod-name={name}", "--lease-namespace=default",
                *self.common_argv(dns.server), *extra]
        self.proc = procs.start(name, argv,
                                ready=self.ready if wait_ready else None,
                                timeout=20)

    def get(self, host, path="/"):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                       timeout=5)
        try:
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            body = r.read()
            try:
                name = json.loads(body)["name"]
            except (ValueError, KeyError, TypeError):
                name = None
            return r.status, name
        finally:
            c.close()

    def wait_served(self, host, backend, timeout=10):
        return eventually(lambda: self.get(host) == (200, backend), timeout)

    def wait_status(self, host, status, timeout=10):
        return eventually(lambda: self.get(host)[0] == status, timeout)


class Traffic:
    """Requests in a loop on a background thread; counts every failure."""

    def __init__(self, ctl, host, backend):
        self.ctl, self.host, self.backend = ctl, host, backend
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                got = self.ctl.get(self.host)
            except (OSError, http.client.HTTPException) as e:
                got = repr(e)
            if got == (200, self.backend):
                self.ok += 1
            else:
                self.failures.append((time.monotonic(), got))
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.ok, self.failures


@pytest.fixture
def backends(http_backend, cluster_dns):
    out = {}
    for i, name in enumerate(("alpha", "beta")):
        b = http_backend(addr=f"127.0.0.{i + 2}", name=name)
        cluster_dns.set(f"{name}.{NS}.svc.cluster.local", b.addr)
        out[name] = b
    return out


def seed(api, backends):
    """The namespace's Services and our IngressClass."""
    api.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS}})
    for name, b in backends.items():
        api.create(service(name, b.port))
    api.create(CLASS)


def controller_pod(api, name, labels=None, ns="default"):
    """The Pod a replica runs in, as the API shows it: Running, with the
    chart's labels (and a pod-template-hash, as a ReplicaSet adds)."""
    labels = labels or {"app.kubernetes.io/name": "portico",
                        "app.kubernetes.io/instance": "portico",
                        "pod-template-hash": "5d8f7c"}
    api.create({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns,
                             "labels": labels},
                "spec": {"containers": [{"name": "controller",
                                         "image": "portico"}]}})
    return api.patch("Pod", name, {"status": {"phase": "Running"}},
                     namespace=ns, subresource="status")


def ing_status(api, name):
    return api.get(f"{ING}/{name}").get("status", {}).get(
        "loadBalancer", {}).get("ingress")


def external_dns_view(ing):
    """What ExternalDNS's ingress source (v0.22.0 source/ingress.go
    endpointsFromIngress, no annotation) makes of an Ingress:
    {(dnsName, recordType): sorted targets}."""
    hosts = [r["host"] for r in ing["spec"].get("rules", []) if r.get("host")]
    for t in ing["spec"].get("tls", []):
        hosts += t.get("hosts", [])
    targets = []
    for e in ing.get("status", {}).get("loadBalancer", {}).get("ingress",
                                                               []) or []:
        targets += [v for v in (e.get("ip"), e.get("hostname")) if v]

    def rtype(t):
        if ":" in t:
            return "AAAA"
        if all(p.isdigit() for p in t.split(".")) and t.count(".") == 3:
            return "A"
        return "CNAME"
    out = {}
    for h in hosts:
        for t in targets:
            out.setdefault((h, rtype(t)), []).append(t)
    return {k: sorted(v) for k, v in out.items()}


def dnsendpoint_view(dep):
    return {(e["dnsName"], e["recordType"]): sorted(e["targets"])
            for e in dep["spec"]["endpoints"]}


def controller_requests(api, who=None):
    """Access-log entries made by portico-controller (optionally by one
    replica, told apart by the identity in its User-Agent)."""
    out = []
    for e in api.access_log():
        ua = e.get("user_agent", "")
        if not ua.startswith("portico-controller"):
            continue
        if who and f"({who})" not in ua:
            continue
        out.append(e)
    return out


# --- tests -------------------------------------------------------------------

def test_ingresses_created_changed_and_deleted_through_the_api_are_served(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    ctl = KubeController(procs, tmp_path, api, cluster_dns)
    p = {n: b.port for n, b in backends.items()}

    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    ctl.wait_served("shop.test", "alpha")
    obj = api.get(f"{ING}/shop")
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] = {
        "name": "beta", "port": {"number": p["beta"]}}
    api.put(obj)
    ctl.wait_served("shop.test", "beta")
    api.delete("Ingress", "shop", namespace=NS)
    ctl.wait_status("shop.test", 404)

    # Only TLS and Opaque Secrets are listed and watched (server-side
    # selectors: never Helm releases or service account tokens).
    secrets = [e for e in controller_requests(api)
               if e["resource"] == "secrets"]
    assert {e["verb"] for e in secrets} == {"list", "watch"}
    assert {e["query"].get("fieldSelector") for e in secrets} == {
        "type=kubernetes.io/tls", "type=Opaque"}
    # Lists are paged; watches resume from a resourceVersion with bookmarks
    # and a timeout in [300, 600).
    for e in controller_requests(api):
        if e["verb"] == "list" and e["resource"] == "ingresses":
            assert e["query"]["limit"] == "500"
        if e["verb"] == "watch":
            q = e["query"]
            assert q["allowWatchBookmarks"] == "true"
            assert q["resourceVersion"]
            assert 300 <= int(q["timeoutSeconds"]) < 600
    # API request durations by verb and code (refreshed every second).
    eventually(lambda: (ctl.metric(
        "portico_controller_api_request_duration_seconds_count",
        verb="LIST", code="200") or 0) >= 4)
    rc, out = testbed.promtool_check_metrics(ctl.metrics())
    assert rc == 0, out


def test_a_host_added_through_the_api_is_served_without_a_reload(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    """A new host for a known Service only changes the route table: nginx
    keeps its master and workers, the swap is counted apart."""
    api = fake_apiserver
    seed(api, backends)
    ctl = KubeController(procs, tmp_path, api, cluster_dns)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    ctl.wait_served("shop.test", "alpha")
    eventually(ctl.files_served)
    pids = ctl.nginx_pids()
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    obj = api.get(f"{ING}/shop")
    obj["spec"]["rules"].append(
        {**obj["spec"]["rules"][0], "host": "more.test"})
    api.put(obj)
    ctl.wait_served("more.test", "alpha")
    eventually(ctl.files_served)
    assert ctl.nginx_pids() == pids
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.metric("portico_controller_route_updates_total",
                      result="success") >= 1


def test_api_server_trouble_never_interrupts_traffic(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("stable", "stable.test", "alpha", p["alpha"]))
    api.create(ingress("moving", "moving.test", "alpha", p["alpha"]))
    ctl = KubeController(procs, tmp_path, api, cluster_dns)
    ctl.wait_served("stable.test", "alpha")
    ctl.wait_served("moving.test", "alpha")
    api.wait_watches(4)
    # Ingresses are listed and watched once (the publisher's status view
    # shares the source's reflector).
    for verb in ("list", "watch"):
        assert len([e for e in controller_requests(api) if e["verb"] == verb
                    and e["resource"] == "ingresses"]) == 1, verb
    traffic = Traffic(ctl, "stable.test", "alpha")
    flip = ["beta"]

    def change_and_see_it():
        """A change made now is served: the watch came back."""
        obj = api.get(f"{ING}/moving")
        svc = obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]
        svc["service"] = {"name": flip[0], "port": {"number": p[flip[0]]}}
        api.put(obj)
        # Within the backoff (doubling from 0.8 s while disruptions keep
        # coming, up to 2x jitter) plus the debounce.
        ctl.wait_served("moving.test", flip[0], timeout=25)
        flip[0] = "alpha" if flip[0] == "beta" else "beta"

    restarts0 = ctl.metric("portico_controller_watch_restarts_total")
    relists0 = ctl.metric("portico_controller_relists_total")

    def settled():
        """All four watches up for over a second (so the next trouble
        starts from the initial backoff, as after any healthy watch)."""
        api.wait_watches(4, timeout=30)
        time.sleep(1.1)

    api.close_watches("clean")          # server ends watches cleanly
    change_and_see_it()
    settled()
    api.close_watches("reset")          # connections reset mid-stream
    change_and_see_it()
    settled()
    # Errors on the controller's re-watches and re-lists (the cluster-wide
    # paths; the test's own requests are namespaced).
    for prefix in ("/apis/networking.k8s.io/v1/ingresses", "/api/v1/services",
                   "/api/v1/secrets"):
        api.fail_next(2, 500, path_prefix=prefix)
    api.close_watches("reset")
    change_and_see_it()
    settled()
    api.fail_next(2, 429, path_prefix="/apis/networking.k8s.io/v1/ingresses",
                  retry_after=1)
    api.close_watches("clean")
    change_and_see_it()
    settled()
    api.restart(lose_history=True)      # old resourceVersions now 410
    change_and_see_it()
    settled()
    # Deleted while the watch is down and the history is gone: the re-list
    # finds it missing and the store drops it.
    api.fail_next(1, 500, path_prefix="/apis/networking.k8s.io/v1/ingresses")
    api.restart(lose_history=True)
    api.delete("Ingress", "moving", namespace=NS)
    ctl.wait_status("moving.test", 404, timeout=15)

    ok, failures = traffic.stop()
    assert failures == [], f"{len(failures)} failed of {ok + len(failures)}"
    assert ok > 100
    assert ctl.metric("portico_controller_watch_restarts_total") >= \
        restarts0 + 4 * 4
    # Every watch of the controller (4 kinds; the publisher's Ingress view
    # rides on the source's) re-listed after the restart.
    # (A reflector still backing off from the earlier errors gets there
    # when its backoff ends: up to 2 x 12.8 s.)
    eventually(lambda: ctl.metric("portico_controller_relists_total") >=
               relists0 + 4, timeout=30)
    # After the restart each watch was answered 410 and re-listed.
    log = controller_requests(api)
    assert any(e["verb"] == "watch" and e["code"] == 410 for e in log) or \
        "re-listing (watch expired" in ctl.proc.log_text()
    assert any(e["code"] == 500 for e in log)
    assert any(e["code"] == 429 for e in log)
    assert ctl.proc.alive()


def test_status_and_dnsendpoints_match_what_external_dns_reads(
        procs, tmp_path, fake_apiserver_factory, cluster_dns, backends):
    # Over TLS, the CA from the kubeconfig verifying the server.
    api = fake_apiserver_factory(tls=True)
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"],
                       annotations={TTL_NEW: "5m"},
                       extra_hosts=("www.shop.test",)))
    # ExternalDNS (v0.22 on) reads one prefix: the alpha one is ignored.
    api.create(ingress("blog", "blog.test", "beta", p["beta"],
                       annotations={TTL_NEW: "120", TTL_ALPHA: "60"}))
    api.create(ingress("bad", "bad.test", "beta", p["beta"], annotations={
        "portico.io/proxy-body-size": "1m; include /etc/passwd"}))
    api.create(ingress("foreign", "foreign.test", "beta", p["beta"],
                       klass="other"))
    ctl = KubeController(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-status-address=" + ",".join(PUBLISHED),
        "--publish-dnsendpoints"))
    ctl.wait_served("shop.test", "alpha")

    want = [{"ip": "192.0.2.10"}, {"ip": "2001:db8::10"},
            {"hostname": "lb.example.net"}]
    eventually(lambda: ing_status(api, "shop") == want)
    eventually(lambda: ing_status(api, "blog") == want)
    # Not ours or not served: no status, no DNSEndpoint.
    assert ing_status(api, "foreign") is None
    assert ing_status(api, "bad") is None

    def dnseps():
        return {d["metadata"]["name"]: d
                for d in api.get(DNSEP)["items"]}
    eventually(lambda: set(dnseps()) == {"shop", "blog"})
    for name, ttl in (("shop", 300), ("blog", 120)):
        ing = api.get(f"{ING}/{name}")
        dep = dnseps()[name]
        assert dnsendpoint_view(dep) == external_dns_view(ing)
        assert {e["recordTTL"] for e in dep["spec"]["endpoints"]} == {ttl}
        owner, = dep["metadata"]["ownerReferences"]
        assert owner["kind"] == "Ingress" and owner["name"] == name
        assert owner["uid"] == ing["metadata"]["uid"]
        assert owner["controller"] is True
    assert external_dns_view(api.get(f"{ING}/shop")) == {
        ("shop.test", "A"): ["192.0.2.10"],
        ("shop.test", "AAAA"): ["2001:db8::10"],
        ("shop.test", "CNAME"): ["lb.example.net"],
        ("www.shop.test", "A"): ["192.0.2.10"],
        ("www.shop.test", "AAAA"): ["2001:db8::10"],
        ("www.shop.test", "CNAME"): ["lb.example.net"]}

    # The rejected Ingress got a Warning Event naming the reason.
    def rejected_event():
        for e in api.get(EVENTS)["items"]:
            if e["involvedObject"]["name"] == "bad" and \
                    e["type"] == "Warning":
                return e
    ev = eventually(rejected_event)
    assert ev["source"]["component"] == "portico-controller"
    assert ev["involvedObject"]["kind"] == "Ingress"
    assert ev["involvedObject"]["uid"] == api.get(f"{ING}/bad")[
        "metadata"]["uid"]
    assert ev["count"] == 1 and "proxy-body-size" in ev["message"]
    # Fixed, then broken the same way again: the same Event counts 2.
    # (Merge patches, as kubectl edit sends: the controller writes the
    # status meanwhile, and a GET + PUT could lose that race with a 409.)
    api.patch("Ingress", "bad", {"metadata": {"annotations": None}},
              namespace=NS)
    ctl.wait_served("bad.test", "beta")
    api.patch("Ingress", "bad", {"metadata": {"annotations": {
        "portico.io/proxy-body-size": "1m; include /etc/passwd"}}},
        namespace=NS)
    again = eventually(lambda: (rejected_event() or {}).get("count") == 2 and
                       rejected_event())
    assert again["metadata"]["name"] == ev["metadata"]["name"]
    assert len([e for e in api.get(EVENTS)["items"]
                if e["involvedObject"]["name"] == "bad"]) == 1

    # A host added shows up in the DNSEndpoint; an Ingress that stops being
    # ours loses its status and its DNSEndpoint.
    rules = api.get(f"{ING}/blog")["spec"]["rules"]
    rules.append({"host": "news.test", "http": rules[0]["http"]})
    api.patch("Ingress", "blog", {"spec": {"rules": rules}}, namespace=NS)
    eventually(lambda: ("news.test", "A") in dnsendpoint_view(
        dnseps()["blog"]))
    api.patch("Ingress", "blog", {"spec": {"ingressClassName": "other"}},
              namespace=NS)
    eventually(lambda: ing_status(api, "blog") is None)
    eventually(lambda: set(dnseps()) == {"shop"})
    api.delete("Ingress", "shop", namespace=NS)
    eventually(lambda: set(dnseps()) == set())
    # Only the status subresource was written, with merge patches.
    writes = [e for e in controller_requests(api)
              if e["resource"].startswith("ingresses") and
              e["method"] not in ("GET",)]
    assert writes and all(e["resource"] == "ingresses/status" and
                          e["verb"] == "patch" for e in writes)


def test_status_follows_the_publish_service_load_balancer(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    lb = {"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": "portico", "namespace": "default"},
          "spec": {"type": "LoadBalancer",
                   "ports": [{"name": "http", "port": 80}]}}
    api.create(lb)
    api.patch("Service", "portico", {"status": {"loadBalancer": {
        "ingress": [{"ip": "203.0.113.7"}]}}}, subresource="status")
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    controller_pod(api, "portico-a")
    ctl = KubeController(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-service=default/portico", "--update-status-on-shutdown"))
    ctl.wait_served("shop.test", "alpha")
    eventually(lambda: ing_status(api, "shop") == [{"ip": "203.0.113.7"}])
    # The cloud gives the Service a new address: the Ingress follows.
    api.patch("Service", "portico", {"status": {"loadBalancer": {
        "ingress": [{"hostname": "abc.elb.example.com"}]}}},
        subresource="status")
    eventually(lambda: ing_status(api, "shop") == [
        {"hostname": "abc.elb.example.com"}])
    # Nothing is rewritten when nothing changed.
    api.clear_access_log()
    time.sleep(1.5)
    assert not [e for e in controller_requests(api)
                if e["resource"] == "ingresses/status"]
    # Asked to, the leader clears the status when it stops, being the last
    # replica (its Pod the only one of its labels).
    ctl.proc.stop()
    assert ing_status(api, "shop") is None
    assert "no other replica runs: this is the last replica" in \
        ctl.proc.log_text()


def lease_holder(api):
    status, body = api.request("GET", LEASE)
    if status != 200:
        return None
    return body["spec"].get("holderIdentity") or None


def test_two_controllers_exactly_one_leader_writes_and_the_other_takes_over(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    extra = ("--publish-status-address=192.0.2.10",)
    ctls = {n: KubeController(procs, tmp_path, api, cluster_dns, name=n,
                              extra=extra)
            for n in ("portico-a", "portico-b")}
    leader = eventually(lambda: lease_holder(api))
    other = next(n for n in ctls if n != leader)
    eventually(lambda: ing_status(api, "shop") == [{"ip": "192.0.2.10"}])
    eventually(lambda: ctls[leader].metric(
        "portico_controller_leader") == 1)
    assert ctls[other].metric("portico_controller_leader") == 0
    # Both serve traffic; only the leader writes.
    ctls[leader].wait_served("shop.test", "alpha")
    ctls[other].wait_served("shop.test", "alpha")
    time.sleep(2 * RETRY_PERIOD_S)
    log = controller_requests(api)
    status_writers = {e["user_agent"] for e in log
                      if e["resource"] == "ingresses/status"}
    lease_writers = {e["user_agent"] for e in log
                     if e["resource"] == "leases" and e["code"] in (200, 201)
                     and e["verb"] in ("create", "update")}
    assert status_writers == {f"portico-controller ({leader})"}
    assert lease_writers == {f"portico-controller ({leader})"}
    transitions = api.get(LEASE)["spec"].get("leaseTransitions", 0)

    # The leader dies without releasing: the other takes over once the
    # lease expires (15 s from its last observed renewal, + retry jitter).
    killed_at = time.monotonic()
    ctls[leader].proc.kill()
    eventually(lambda: lease_holder(api) == other,
               timeout=LEASE_DURATION_S + RETRY_PERIOD_S * (1 + JITTER_FACTOR)
               + 3, interval=0.2)
    took = time.monotonic() - killed_at
    # Not before the lease could have expired as the follower saw it.
    assert took >= LEASE_DURATION_S - RETRY_PERIOD_S * (1 + JITTER_FACTOR) \
        - 1, took
    assert api.get(LEASE)["spec"]["leaseTransitions"] == transitions + 1
    api.clear_access_log()
    api.create(ingress("blog", "blog.test", "beta", p["beta"]))
    eventually(lambda: ing_status(api, "blog") == [{"ip": "192.0.2.10"}])
    writers = {e["user_agent"] for e in controller_requests(api)
               if e["resource"] == "ingresses/status"}
    assert writers == {f"portico-controller ({other})"}

    # A clean stop releases the lease at once (empty holder, 1 s).
    ctls[other].proc.stop()
    spec = api.get(LEASE)["spec"]
    assert spec.get("holderIdentity", "") == ""
    assert spec["leaseDurationSeconds"] == 1


def test_opaque_secrets_give_client_certificates_and_basic_auth(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    """`kubectl create secret generic` makes Opaque Secrets: the client CA
    of auth-tls-secret and the htpasswd file of auth-secret come from
    them through the API as in local mode."""
    import base64
    from testbed import certs
    from test_controller_access import htpasswd_line
    from test_module_client_certs import https
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    ca = certs.make_ca("Kube Client CA")
    alice = certs.client_cert(ca, "alice").write(tmp_path, "alice")

    def opaque(name, data):
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": NS},
                "data": {k: base64.b64encode(v.encode()).decode()
                         for k, v in data.items()}}
    api.create(opaque("client-ca", {"ca.crt": ca.cert_pem}))
    api.create(opaque("users", {"auth": htpasswd_line("zed", "pw")}))
    api.create(ingress("mtls", "m.test", "alpha", p["alpha"], annotations={
        "nginx.ingress.kubernetes.io/auth-tls-secret": f"{NS}/client-ca"}))
    api.create(ingress("basic", "b.test", "beta", p["beta"], annotations={
        "nginx.ingress.kubernetes.io/auth-type": "basic",
        "nginx.ingress.kubernetes.io/auth-secret": "users"}))
    ctl = KubeController(procs, tmp_path, api, cluster_dns)
    ctl.wait_status("b.test", 401)
    eventually(lambda: https(ctl.https_port, "m.test",
                             cert=alice).status == 200, timeout=15)
    assert https(ctl.https_port, "m.test").status == 400
    # A rotated CA arrives by the watch.
    other = certs.make_ca("Kube Client CA 2")
    bob = certs.client_cert(other, "bob").write(tmp_path, "bob")
    obj = api.get(f"/api/v1/namespaces/{NS}/secrets/client-ca")
    obj["data"]["ca.crt"] = base64.b64encode(
        other.cert_pem.encode()).decode()
    api.put(obj)
    eventually(lambda: https(ctl.https_port, "m.test",
                             cert=bob).status == 200, timeout=15)
    assert https(ctl.https_port, "m.test", cert=alice).status == 400


def test_least_privilege_rules_are_enough(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    api.create(ingress("bad", "bad.test", "beta", p["beta"], annotations={
        "portico.io/proxy-body-size": "1m\r\nlocation /x { return 200; }"}))
    api.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "not-tls", "namespace": NS},
                "data": {"x": "eA=="}})
    api.set_allow(LEAST_PRIVILEGE)
    ctl = KubeController(procs, tmp_path, api, cluster_dns, extra=(
        "--publish-status-address=192.0.2.10", "--publish-dnsendpoints"))
    ctl.wait_served("shop.test", "alpha")

    # While the allow-list holds (the test itself may not read objects
    # then), the access log shows every write going through.
    def wrote(verb, resource, name):
        return [e for e in controller_requests(api)
                if (e["verb"], e["resource"]) == (verb, resource) and
                e["name"].startswith(name) and 200 <= e["code"] < 300]
    eventually(lambda: wrote("patch", "ingresses/status", "shop"))
    eventually(lambda: wrote("create", "dnsendpoints", ""))
    eventually(lambda: wrote("create", "events", "") or
               wrote("patch", "events", ""))
    eventually(lambda: wrote("update", "leases", "portico-leader"),
               timeout=RETRY_PERIOD_S * 3)
    opened = time.time()
    api.set_allow(None)
    log = [e for e in controller_requests(api) if e["time"] < opened]

    assert ing_status(api, "shop") == [{"ip": "192.0.2.10"}]
    assert [d["metadata"]["name"] for d in api.get(DNSEP)["items"]] == \
        ["shop"]
    assert [e for e in api.get(EVENTS)["items"]
            if e["involvedObject"]["name"] == "bad"]
    assert [e for e in log if e["code"] == 403] == []
    used = {f"{e['verb']} {e['resource']}" for e in log}
    assert used <= set(LEAST_PRIVILEGE)
    # Everything on the list was needed in this run except the verbs for
    # repeats and clean-ups (patch events, patch/delete dnsendpoints).
    assert set(LEAST_PRIVILEGE) - used <= {
        "patch events", "patch dnsendpoints", "delete dnsendpoints"}


def test_token_file_is_read_again_after_a_401(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    token = tmp_path / "token"
    token.write_text("expired-token\n")
    cfg = json.load(open(api.kubeconfig))
    cfg["users"][0]["user"] = {"tokenFile": "token"}   # relative path
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(cfg))
    api.kubeconfig = str(kubeconfig)
    ctl = KubeController(procs, tmp_path, api, cluster_dns, wait_ready=False)
    eventually(lambda: [e for e in api.access_log() if e["code"] == 401])
    assert not ctl.ready()
    # The kubelet rotates the token: the next 401 makes the client read the
    # file again (it also re-reads it every minute), and all is well.
    token.write_text(api.token + "\n")
    eventually(ctl.ready, timeout=15)
    ctl.wait_served("shop.test", "alpha")


def test_watch_namespace_limits_the_watches_and_bookmarks_move_the_rv(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    api.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "elsewhere"}})
    api.create(service("alpha", p["alpha"], ns="elsewhere"))
    outside = ingress("outside", "outside.test", "alpha", p["alpha"])
    outside["metadata"]["namespace"] = "elsewhere"
    api.create(outside)
    api.create(ingress("shop", "shop.test", "alpha", p["alpha"]))
    ctl = KubeController(procs, tmp_path, api, cluster_dns, extra=(
        f"--watch-namespace={NS}", "--publish-status-address=192.0.2.10"))
    ctl.wait_served("shop.test", "alpha")
    assert ctl.get("outside.test")[0] == 404
    eventually(lambda: ing_status(api, "shop") == [{"ip": "192.0.2.10"}])
    assert api.get("/apis/networking.k8s.io/v1/namespaces/elsewhere/"
                   "ingresses/outside").get("status", {}).get(
                       "loadBalancer", {}).get("ingress") is None
    for e in controller_requests(api):
        if e["resource"] in ("ingresses", "services", "secrets") and \
                e["verb"] in ("list", "watch"):
            assert e["namespace"] == NS, e
    # Changes elsewhere move the cluster's resourceVersion without events
    # for our watches; a BOOKMARK carries the new one, and the next watch
    # resumes from it instead of replaying from the old one.
    for i in range(3):
        api.create(service(f"noise{i}", 80, ns="elsewhere"))
    rv = api.state()["resourceVersion"]
    api.clear_access_log()
    api.bookmark_now()
    time.sleep(0.3)
    api.close_watches("clean")
    eventually(lambda: [e for e in controller_requests(api)
                        if e["verb"] == "watch" and
                        e["resource"] == "ingresses" and
                        e["query"]["resourceVersion"] == str(rv)])


def test_large_lists_are_paged_and_an_expired_continue_token_restarts(
        procs, tmp_path, fake_apiserver, cluster_dns, backends):
    api = fake_apiserver
    seed(api, backends)
    p = {n: b.port for n, b in backends.items()}
    with concurrent.futures.ThreadPoolExecutor(16) as pool:  # 2 pages of 500
        list(pool.map(lambda i: api.create(service(f"filler{i:03d}",
                                                   8000 + i)), range(510)))
    # Sorted last, so on the second page; the Ingress names its port.
    last = service("zz-last", p["beta"])
    api.create(last)
    cluster_dns.set(f"zz-last.{NS}.svc.cluster.local", backends["beta"].addr)
    shop = ingress("shop", "shop.test", "zz-last", p["beta"])
    shop["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"][
        "port"] = {"name": "http"}
    api.create(shop)
    # Slow lists down so the continue token can expire between the pages.
    api.delay(1.0, path_prefix="/api/v1/services")
    ctl = KubeController(procs, tmp_path, api, cluster_dns, wait_ready=False)
    eventually(lambda: [e for e in controller_requests(api)
                        if e["resource"] == "services" and e["verb"] == "list"
                        and "continue" not in e["query"]], timeout=5,
               interval=0.02)
    api.expire_continue()
    api.create(service("late", 80))          # the list RV moves on
    eventually(lambda: [e for e in controller_requests(api)
                        if e["resource"] == "services" and
                        "continue" in e["query"] and e["code"] == 410],
               timeout=10)
    api.delay(0)
    eventually(ctl.ready, timeout=15)
    ctl.wait_served("shop.test", "beta")
    pages = [e for e in controller_requests(api)
             if e["resource"] == "services" and e["verb"] == "list"]
    assert all(e["query"]["limit"] == "500" for e in pages)
    assert [e for e in pages if "continue" in e["query"] and
            e["code"] == 200]
    eventually(lambda: ctl.metric("portico_controller_relists_total") >= 1)
