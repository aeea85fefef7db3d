"""portico-controller against the (fake) Kubernetes API, the parts about
who writes and how it authenticates: only the leader writes Kubernetes
Events (a new leader records the problems it inherited, without
duplicating the Events already there), client certificates from a
kubeconfig (inline data and file paths) against an API server that
verifies them, and the in-cluster service account whose token file is
re-read while the controller runs."""
import http.client
import json
import os
import shutil
import time

import pytest

import testbed
from testbed import certs
from testbed.controller import CONTROLLER, ControllerUnderTest, eventually

NS = "team"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/portico-leader"
EVENTS = f"/api/v1/namespaces/{NS}/events"
LEASE_DURATION_S = 15
RETRY_PERIOD_S = 2
JITTER_FACTOR = 1.2
TAKEOVER_S = LEASE_DURATION_S + RETRY_PERIOD_S * (1 + JITTER_FACTOR) + 3
# An annotation value that smuggles nginx syntax: rejected by validation.
SMUGGLED = "1m\r\nlocation /x { return 200; }"
TOKEN_REREAD_S = 1


# --- objects -----------------------------------------------------------------

CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"},
         "spec": {"controller": "portico.io/ingress-controller"}}


def service(name, port):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": port,
                                "targetPort": port}]}}


def ingress(name, host, svc, port, bad=False):
    meta = {"name": name, "namespace": NS}
    if bad:
        meta["annotations"] = {"portico.io/proxy-body-size": SMUGGLED}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta,
            "spec": {"ingressClassName": "portico", "rules": [{
                "host": host, "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": svc,
                                            "port": {"number": port}}}}]}}]}}


@pytest.fixture
def backend(http_backend, cluster_dns):
    b = http_backend(addr="127.0.0.2", name="alpha")
    cluster_dns.set(f"alpha.{NS}.svc.cluster.local", b.addr)
    return b


def seed(api, backend):
    api.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS}})
    api.create(service("alpha", backend.port))
    api.create(CLASS)


# --- the controller under test -----------------------------------------------

class Controller(ControllerUnderTest):
    """portico-controller with a kubeconfig, or in-cluster (env)."""

    def __init__(self, procs, tmp_path, dns, name="portico-a",
                 kubeconfig=None, env=None, extra=(), wait_ready=True):
        self.name = name
        super().__init__(tmp_path / f"state-{name}")
        argv = [CONTROLLER, f"--pod-name={name}",
                "--lease-namespace=default",
                *self.common_argv(dns.server), *extra]
        if kubeconfig:
            argv.append(f"--kubeconfig={kubeconfig}")
        self.proc = procs.start(name, argv, env=env,
                                ready=self.ready if wait_ready else None,
                                timeout=20)

    def get(self, host):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                       timeout=5)
        try:
            c.request("GET", "/", headers={"Host": host})
            r = c.getresponse()
            body = r.read()
            try:
                return r.status, json.loads(body)["name"]
            except (ValueError, KeyError, TypeError):
                return r.status, None
        finally:
            c.close()

    def wait_served(self, host, backend_name, timeout=10):
        return eventually(lambda: self.get(host) == (200, backend_name),
                          timeout)


def lease_holder(api):
    status, body = api.request("GET", LEASE)
    if status != 200:
        return None
    return body["spec"].get("holderIdentity") or None


def events_about(api, name):
    return [e for e in api.get(EVENTS)["items"]
            if e["involvedObject"]["name"] == name]


def event_writes(api, who=None):
    """Successful Event creates/patches in the access log: (verb, name,
    replica) with the replica told apart by its User-Agent."""
    out = []
    for e in api.access_log():
        ua = e.get("user_agent", "")
        if e["resource"] != "events" or e["verb"] not in ("create", "patch") \
                or not 200 <= e["code"] < 300:
            continue
        replica = ua[ua.find("(") + 1:ua.rfind(")")] if "(" in ua else ua
        if who is None or replica == who:
            out.append((e["verb"], e["name"], replica))
    return out


# --- Events: the leader writes them ------------------------------------------

def test_only_the_leader_writes_events_and_a_new_leader_adds_no_duplicates(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    api.create(ingress("shop", "shop.test", "alpha", backend.port))
    api.create(ingress("bad", "bad.test", "alpha", backend.port, bad=True))
    api.create(ingress("lost", "lost.test", "alpha", backend.port, bad=True))
    ctls = {n: Controller(procs, tmp_path, cluster_dns, name=n,
                          kubeconfig=api.kubeconfig)
            for n in ("portico-a", "portico-b")}
    leader = eventually(lambda: lease_holder(api))
    other = next(n for n in ctls if n != leader)
    for c in ctls.values():
        c.wait_served("shop.test", "alpha")
    eventually(lambda: len(events_about(api, "bad")) == 1 and
               len(events_about(api, "lost")) == 1)
    # Both replicas rejected both Ingresses (each logs it), one wrote.
    for c in ctls.values():
        eventually(lambda: "bad rejected" in c.proc.log_text() and
                   "lost rejected" in c.proc.log_text())
    time.sleep(2 * RETRY_PERIOD_S)
    writes = event_writes(api)
    assert {w[2] for w in writes} == {leader}, writes
    assert sorted(w[0] for w in writes) == ["create", "create"], writes
    bad = events_about(api, "bad")
    assert len(bad) == 1 and bad[0]["reason"] == "Rejected"
    assert bad[0]["type"] == "Warning" and bad[0]["count"] == 1
    assert bad[0]["source"]["component"] == "portico-controller"

    # The leader dies. The Event about "lost" disappears meanwhile (as an
    # Event does after its TTL, or when a write never made it).
    ctls[leader].proc.kill()
    lost = events_about(api, "lost")[0]["metadata"]["name"]
    api.delete("Event", lost, namespace=NS)
    api.clear_access_log()
    eventually(lambda: lease_holder(api) == other, timeout=TAKEOVER_S,
               interval=0.2)
    # The new leader lists the Events already written, keeps the one
    # about "bad" and writes the missing one about "lost" -- once.
    eventually(lambda: len(events_about(api, "lost")) == 1)
    time.sleep(2 * RETRY_PERIOD_S)
    assert [(v, r) for v, _, r in event_writes(api)] == [("create", other)], \
        event_writes(api)
    listed = [e for e in api.access_log() if e["resource"] == "events"
              and e["verb"] == "list"]
    assert listed and all(e["code"] == 200 for e in listed)
    assert listed[0]["query"]["fieldSelector"] == \
        "source=portico-controller,involvedObject.kind=Ingress"
    assert [e["metadata"]["name"] for e in events_about(api, "bad")] == \
        [bad[0]["metadata"]["name"]]
    assert events_about(api, "bad")[0]["count"] == 1

    # A problem that starts under the new leader gets its Event from it.
    api.create(ingress("worse", "worse.test", "alpha", backend.port,
                       bad=True))
    eventually(lambda: len(events_about(api, "worse")) == 1)
    assert [w for w in event_writes(api) if w[2] != other] == []
    assert len(events_about(api, "bad")) == 1


def test_a_follower_writes_no_events_while_the_leader_lives(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    # Another replica holds a fresh lease (renewed by this test).
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    api.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "portico-leader",
                             "namespace": "default"},
                "spec": {"holderIdentity": "elsewhere",
                         "leaseDurationSeconds": 3600,
                         "acquireTime": now, "renewTime": now}})
    ctl = Controller(procs, tmp_path, cluster_dns,
                     kubeconfig=api.kubeconfig)
    api.create(ingress("bad", "bad.test", "alpha", backend.port, bad=True))
    eventually(lambda: "bad rejected" in ctl.proc.log_text())
    time.sleep(2 * RETRY_PERIOD_S)
    assert ctl.metric("portico_controller_leader") == 0
    assert events_about(api, "bad") == []
    assert event_writes(api) == []
    # The other replica goes away (releases the lease): this one leads and
    # records the problem it saw while following.
    lease = api.get(LEASE)
    lease["spec"].update(holderIdentity="", leaseDurationSeconds=1)
    api.put(lease)
    eventually(lambda: len(events_about(api, "bad")) == 1,
               timeout=3 * RETRY_PERIOD_S * (1 + JITTER_FACTOR) + 2)
    assert [w[2] for w in event_writes(api)] == ["portico-a"]
