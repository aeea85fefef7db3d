"""portico-controller against the (fake) Kubernetes API, the parts about
who writes and how it authenticates: only the leader writes Kubernetes
Events (a new leader records the problems it inherited, without
duplicating the Events already there), client certificates from a
kubeconfig (inline data and file paths) against an API server that
verifies them, and the in-cluster service account whose token file is
re-read while the controller runs."""
import base64
import datetime
import http.client
import json
import os
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
BACKOFF_INITIAL_S = 0.8    # the client's first retry delay (client-go's)
BACKOFF_WATCH_S = 5        # how long the retries are watched


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
                 kubeconfig=None, env=None, lease_namespace="default",
                 extra=(), wait_ready=True):
        self.name = name
        super().__init__(tmp_path / f"state-{name}")
        argv = [CONTROLLER, f"--pod-name={name}",
                *self.common_argv(dns.server), *extra]
        if lease_namespace:
            argv.append(f"--lease-namespace={lease_namespace}")
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

    # "bad" is fixed, then broken the same way again: the new leader counts
    # the repeat on the Event the old leader wrote (client-go's
    # aggregation) instead of starting another.
    for value in ("1m", SMUGGLED):
        api.patch("Ingress", "bad", {"metadata": {"annotations": {
            "portico.io/proxy-body-size": value}}}, namespace=NS)
        said = ": no longer rejected" if value == "1m" else " rejected: "
        eventually(lambda: ctls[other].proc.log_text().rsplit(
            "ingress team/bad", 1)[-1].startswith(said))
    again = eventually(lambda: [e for e in events_about(api, "bad")
                                if e["count"] == 2])
    assert [e["metadata"]["name"] for e in events_about(api, "bad")] == \
        [bad[0]["metadata"]["name"]]
    assert again[0]["firstTimestamp"] == bad[0]["firstTimestamp"]
    assert ("patch", bad[0]["metadata"]["name"], other) in event_writes(api)


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


# --- client certificates -----------------------------------------------------

CLIENT_CN = "portico-controller"
CLIENT_ORGS = ["portico:controllers", "system:ingress"]


def client_cert(ca, cn=CLIENT_CN, orgs=CLIENT_ORGS):
    """A client certificate as kube-apiserver maps it: CN = user, each
    O = a group."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = certs.new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                      for o in orgs] +
                     [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name)
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return certs.Issued(cert, key, ca)


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def cert_apiserver(fake_apiserver_factory, tmp_path):
    """A fake API server that authenticates client certificates issued by
    its client CA (--client-ca-file) and, for the test's own requests, a
    bearer token (the real server takes both at once)."""
    client_ca = certs.make_ca("Portico Test Client CA")
    ca_file = str(tmp_path / "client-ca.crt")
    client_ca.write_cert(ca_file)
    api = fake_apiserver_factory(extra_args=("--client-ca-file", ca_file))
    api.client_ca = client_ca
    return api


def cert_kubeconfig(api, path, user):
    """The fake's kubeconfig with `user` (client-certificate fields, no
    token) instead of the token user."""
    cfg = json.load(open(api.kubeconfig))
    cfg["users"][0]["user"] = user
    with open(path, "w") as f:
        json.dump(cfg, f)
    return str(path)


def controller_entries(api):
    return [e for e in api.access_log()
            if e.get("user_agent", "").startswith("portico-controller")]


def test_fake_api_server_judges_client_certificates_per_request(
        cert_apiserver, tmp_path):
    """The stand-in behaves as kube-apiserver with --client-ca-file: the
    handshake never fails over a client certificate; the request is 401
    unless the certificate (or a token) authenticates it."""
    import ssl
    api = cert_apiserver
    other_ca = certs.make_ca("Some Other CA")
    cases = {
        "trusted": client_cert(api.client_ca),
        "other CA": client_cert(other_ca),
        "expired": certs.expired_cert(api.client_ca, [], client=True),
        "server only": certs.make_cert(api.client_ca, ["x.test"],
                                       client=False),
    }
    want = {"trusted": (200, None),
            "other CA": (401, "x509: certificate signed by unknown "
                              "authority"),
            "expired": (401, "x509: certificate has expired or is not yet "
                             "valid"),
            "server only": (401, "x509: certificate specifies an "
                                 "incompatible key usage"),
            "none": (401, None)}
    got = {}
    for name, issued in [*cases.items(), ("none", None)]:
        ctx = ssl.create_default_context(cafile=api.ca_file)
        if issued is not None:
            crt, key = issued.write(tmp_path, name.replace(" ", "-"))
            ctx.load_cert_chain(crt, key)
        api.clear_access_log()
        c = http.client.HTTPSConnection(api.host, api.port, context=ctx,
                                        timeout=5)
        c.request("GET", "/api/v1/namespaces/default/events")
        status = c.getresponse().status
        c.close()
        entry = api.access_log()[-1]
        got[name] = (status, entry.get("auth_error"))
        if status == 200:
            assert entry["user"] == CLIENT_CN
            assert entry["groups"] == [*CLIENT_ORGS, "system:authenticated"]
    assert got == want
    # A valid token still authenticates next to an untrusted certificate
    # (the authenticators are a union).
    ctx = ssl.create_default_context(cafile=api.ca_file)
    ctx.load_cert_chain(*cases["other CA"].write(tmp_path, "other"))
    c = http.client.HTTPSConnection(api.host, api.port, context=ctx,
                                    timeout=5)
    c.request("GET", "/api/v1/namespaces/default/events",
              headers={"Authorization": f"Bearer {api.token}"})
    assert c.getresponse().status == 200
    c.close()


@pytest.mark.parametrize("form", ["data", "files"])
def test_client_certificate_from_kubeconfig_authenticates_the_controller(
        procs, tmp_path, cert_apiserver, cluster_dns, backend, form):
    api = cert_apiserver
    seed(api, backend)
    api.create(ingress("shop", "shop.test", "alpha", backend.port))
    issued = client_cert(api.client_ca)
    if form == "data":
        user = {"client-certificate-data": b64(issued.cert_pem),
                "client-key-data": b64(issued.key_pem)}
    else:
        # Relative paths resolve against the kubeconfig's directory.
        crt, key = issued.write(tmp_path, "portico-client")
        user = {"client-certificate": os.path.basename(crt),
                "client-key": os.path.basename(key)}
    kubeconfig = cert_kubeconfig(api, tmp_path / "kubeconfig", user)
    ctl = Controller(procs, tmp_path, cluster_dns, kubeconfig=kubeconfig)
    ctl.wait_served("shop.test", "alpha")
    # A change made through the API reaches nginx over the same identity.
    api.create(ingress("blog", "blog.test", "alpha", backend.port))
    ctl.wait_served("blog.test", "alpha")
    eventually(lambda: lease_holder(api) == "portico-a")
    log = controller_entries(api)
    assert log and all(e["code"] != 401 for e in log)
    assert {e["user"] for e in log} == {CLIENT_CN}
    assert {tuple(e["groups"]) for e in log} == \
        {(*CLIENT_ORGS, "system:authenticated")}
    assert {e["verb"] for e in log} >= {"list", "watch", "create"}


def test_a_client_certificate_the_server_does_not_trust_is_retried_with_backoff(
        procs, tmp_path, cert_apiserver, cluster_dns, backend):
    api = cert_apiserver
    seed(api, backend)
    api.create(ingress("shop", "shop.test", "alpha", backend.port))
    stranger = client_cert(certs.make_ca("Some Other CA"))
    kubeconfig = cert_kubeconfig(api, tmp_path / "kubeconfig", {
        "client-certificate-data": b64(stranger.cert_pem),
        "client-key-data": b64(stranger.key_pem)})
    ctl = Controller(procs, tmp_path, cluster_dns, kubeconfig=kubeconfig,
                     wait_ready=False)
    eventually(lambda: [e for e in controller_entries(api)
                        if e["code"] == 401])
    started = time.monotonic()
    time.sleep(BACKOFF_WATCH_S)
    elapsed = time.monotonic() - started
    log = controller_entries(api)
    assert log and all(e["code"] == 401 for e in log)
    assert all(e["auth_error"] == "x509: certificate signed by unknown "
               "authority" for e in log)
    # Each list is retried with a growing backoff (0.8 s doubling), not in
    # a tight loop; the process keeps running and reports not ready.
    lists = [e for e in log if e["verb"] == "list" and
             e["resource"] == "ingresses"]
    assert 2 <= len(lists) <= 2 + elapsed / BACKOFF_INITIAL_S, lists
    gaps = [b["time"] - a["time"] for a, b in zip(lists, lists[1:])]
    assert all(g >= BACKOFF_INITIAL_S * 0.9 for g in gaps), gaps
    assert ctl.proc.alive()
    assert not ctl.ready()
    # One clear line says what was refused (not one per request).
    refused = [line for line in ctl.proc.log_text().splitlines()
               if "does not accept our credentials" in line]
    assert len(refused) == 1, refused
    assert "401 Unauthorized" in refused[0]
    assert "client-certificate-data" in refused[0]


# --- in-cluster: the service account's token file ----------------------------

def test_in_cluster_rotated_token_is_picked_up_without_a_restart(
        procs, tmp_path, fake_apiserver, cluster_dns, backend):
    api = fake_apiserver
    seed(api, backend)
    api.create(ingress("shop", "shop.test", "alpha", backend.port))
    # A pod's mount: token, ca.crt, namespace; and the pod's environment.
    sa_dir, env = api.in_cluster(namespace="ingress")
    env.update(PORTICO_KUBE_SERVICEACCOUNT_DIR=sa_dir,
               PORTICO_KUBE_TOKEN_REREAD_SECONDS=str(TOKEN_REREAD_S))
    ctl = Controller(procs, tmp_path, cluster_dns, env=env,
                     lease_namespace=None)
    ctl.wait_served("shop.test", "alpha")
    # The Lease lives in the service account's namespace.
    in_ns = "/apis/coordination.k8s.io/v1/namespaces/ingress/leases/" \
        "portico-leader"
    eventually(lambda: api.request("GET", in_ns)[0] == 200)
    assert f"token file {sa_dir}/token re-read every {TOKEN_REREAD_S} s" \
        in ctl.proc.log_text()

    # The kubelet writes a new token; for a while both are valid, then the
    # old one is revoked. Within the re-read interval the controller has
    # the new one: no request is refused, nothing restarts.
    api.rotate_token("rotated-token", keep_old=True)
    time.sleep(3 * TOKEN_REREAD_S)
    api.set_tokens(["rotated-token"])
    api.clear_access_log()
    api.create(ingress("blog", "blog.test", "alpha", backend.port))
    ctl.wait_served("blog.test", "alpha")
    time.sleep(2 * RETRY_PERIOD_S)
    log = [e for e in api.access_log()
           if e.get("user_agent", "").startswith("portico-controller")]
    lease_calls = [e for e in log if e["resource"] == "leases"]
    assert len(lease_calls) >= 2 and \
        all(e["code"] == 200 for e in lease_calls), lease_calls
    assert [e for e in log if e["code"] == 401] == []
    assert "401" not in ctl.proc.log_text()
    assert ctl.proc.alive()
