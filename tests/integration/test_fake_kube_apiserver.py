"""The fake kube-apiserver (tests/fakes/kube-apiserver) behaves like the real
one where our controller and kubectl can tell: object metadata, LIST with
pagination and selectors, WATCH semantics (replay, bookmarks, selector
transitions, 410 as an ERROR event), writes, patches, /status, error Status
objects, authentication, authorisation, the admin fault API, and kubectl
v1.32 commands end to end."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

import testbed
from testbed.fixtures_kube import KUBE_APISERVER, kind_path

ING = "/apis/networking.k8s.io/v1"
ING_DEFAULT = f"{ING}/namespaces/default/ingresses"
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CONFLICT_MSG = ('Operation cannot be fulfilled on ingresses.networking.k8s.io '
                '"{}": the object has been modified; please apply your '
                'changes to the latest version and try again')
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def ingress(name, ns="default", host="web.example.com", labels=None,
            path="/", path_type="Prefix", port=80, **meta):
    p = {"path": path, "backend": {"service": {"name": "web",
                                               "port": {"number": port}}}}
    if path_type is not None:
        p["pathType"] = path_type
    m = {"name": name, "namespace": ns, **meta}
    if labels is not None:
        m["labels"] = labels
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": m,
            "spec": {"ingressClassName": "portico",
                     "rules": [{"host": host, "http": {"paths": [p]}}]}}


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


# --- metadata, discovery, basic CRUD ---------------------------------------

def test_discovery_documents_describe_every_served_resource(fake_apiserver):
    api = fake_apiserver
    assert api.get("/api")["versions"] == ["v1"]
    core = {r["name"]: r for r in api.get("/api/v1")["resources"]}
    for name in ("namespaces", "services", "services/status", "secrets",
                 "events"):
        assert name in core
    assert core["namespaces"]["namespaced"] is False
    groups = {g["name"]: g for g in api.get("/apis")["groups"]}
    assert {"networking.k8s.io", "discovery.k8s.io", "coordination.k8s.io",
            "externaldns.k8s.io"} <= set(groups)
    assert groups["externaldns.k8s.io"]["preferredVersion"]["version"] == \
        "v1alpha1"
    net = {r["name"]: r for r in api.get(ING)["resources"]}
    assert net["ingresses"]["kind"] == "Ingress"
    assert net["ingresses"]["namespaced"] is True
    assert net["ingressclasses"]["namespaced"] is False
    assert set(net["ingresses/status"]["verbs"]) == {"get", "patch", "update"}
    assert "watch" in net["ingresses"]["verbs"]
    assert api.get("/version")["major"] == "1"


def test_create_sets_uid_string_resource_version_timestamp_and_generation(
        fake_apiserver):
    obj = ingress("web")
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.1.1.1"}]}}
    out = fake_apiserver.create(obj)
    meta = out["metadata"]
    assert re.match(r"^[0-9a-f-]{36}$", meta["uid"])
    assert isinstance(meta["resourceVersion"], str)
    assert RFC3339_Z.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["namespace"] == "default"
    assert out["kind"] == "Ingress" and \
        out["apiVersion"] == "networking.k8s.io/v1"
    # status is not settable on create when a /status subresource exists
    assert out["status"] == {"loadBalancer": {}}
    assert fake_apiserver.get(f"{ING_DEFAULT}/web") == out


def test_one_resource_version_counter_spans_all_kinds(fake_apiserver):
    api = fake_apiserver
    a = api.create(ingress("a"))
    s = api.create({"kind": "Secret", "metadata": {"name": "s"},
                    "stringData": {"k": "v"}})
    b = api.create(ingress("b"))
    assert rv(a) < rv(s) < rv(b)
    assert rv(b) == rv(a) + 2
    lst = api.get(ING_DEFAULT)
    assert lst["metadata"]["resourceVersion"] == str(rv(b))


def test_list_items_carry_no_kind_or_api_version(fake_apiserver):
    fake_apiserver.create(ingress("a"))
    lst = fake_apiserver.get(ING_DEFAULT)
    assert lst["kind"] == "IngressList"
    assert lst["apiVersion"] == "networking.k8s.io/v1"
    assert len(lst["items"]) == 1
    assert "kind" not in lst["items"][0]
    assert "apiVersion" not in lst["items"][0]
    assert lst["items"][0]["metadata"]["name"] == "a"


def test_missing_object_is_a_not_found_status_with_details(fake_apiserver):
    status, body = fake_apiserver.request("GET", f"{ING_DEFAULT}/nope")
    assert status == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure",
                    "message": 'ingresses.networking.k8s.io "nope" not found',
                    "reason": "NotFound",
                    "details": {"name": "nope", "group": "networking.k8s.io",
                                "kind": "ingresses"},
                    "code": 404}
    status, body = fake_apiserver.request(
        "GET", "/api/v1/namespaces/default/services/nope")
    assert body["message"] == 'services "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "services"}


def test_creating_an_existing_name_is_already_exists(fake_apiserver):
    fake_apiserver.create(ingress("dup"))
    status, body = fake_apiserver.request("POST", ING_DEFAULT, ingress("dup"))
    assert status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == \
        'ingresses.networking.k8s.io "dup" already exists'


def test_put_with_stale_resource_version_is_a_409_conflict(fake_apiserver):
    api = fake_apiserver
    first = api.create(ingress("web"))
    newer = dict(first, spec=ingress("web", host="b.example.com")["spec"])
    api.put(newer)
    stale = dict(first, spec=ingress("web", host="c.example.com")["spec"])
    status, body = api.request("PUT", f"{ING_DEFAULT}/web", stale)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == CONFLICT_MSG.format("web")
    assert body["details"] == {"name": "web", "group": "networking.k8s.io",
                               "kind": "ingresses"}


def test_put_without_resource_version_is_unconditional_except_for_crds(
        fake_apiserver):
    api = fake_apiserver
    api.create(ingress("web"))
    obj = ingress("web", host="other.example.com")
    status, body = api.request("PUT", f"{ING_DEFAULT}/web", obj)
    assert status == 200 and body["spec"]["rules"][0]["host"] == \
        "other.example.com"
    dnse = {"apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": "d"}, "spec": {"endpoints": []}}
    api.create(dnse)
    status, body = api.request("PUT", kind_path("DNSEndpoint", name="d"), dnse)
    assert status == 422
    assert "metadata.resourceVersion" in body["message"]


def test_wrong_json_types_are_400_for_built_ins_and_422_for_the_crd(
        fake_apiserver_module):
    api = fake_apiserver_module
    obj = ingress("typed")
    obj["spec"]["rules"][0]["host"] = 5
    status, body = api.request("POST", ING_DEFAULT, obj)
    assert status == 400
    assert body["message"] == (
        'Ingress in version "v1" cannot be handled as a Ingress: json: '
        'cannot unmarshal number into Go struct field IngressRule.spec.rules'
        '.host of type string')
    status, body = api.request("POST", kind_path("DNSEndpoint"), {
        "metadata": {"name": "d"}, "spec": {"endpoints": [5]}})
    assert status == 422
    assert body["message"] == (
        'DNSEndpoint.externaldns.k8s.io "d" is invalid: spec.endpoints[0]: '
        'Invalid value: "integer": spec.endpoints[0] in body must be of type '
        'object: "integer"')
    status, body = api.request("DELETE", f"{ING_DEFAULT}/typed", [1])
    assert status == 400


def test_generate_name_and_dry_run(fake_apiserver):
    api = fake_apiserver
    obj = ingress("x")
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "web-"
    out = api.create(obj)
    assert re.match(r"^web-[a-z0-9]{5}$", out["metadata"]["name"])
    before = api.state()["resourceVersion"]
    status, body = api.request("POST", f"{ING_DEFAULT}?dryRun=All",
                               ingress("dry"))
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert api.request("GET", f"{ING_DEFAULT}/dry")[0] == 404
    assert api.state()["resourceVersion"] == before


def test_put_of_a_missing_ingress_is_not_found(fake_apiserver):
    status, body = fake_apiserver.request("PUT", f"{ING_DEFAULT}/ghost",
                                          ingress("ghost"))
    assert status == 404 and body["reason"] == "NotFound"


def test_put_name_must_match_the_url(fake_apiserver):
    fake_apiserver.create(ingress("a"))
    status, body = fake_apiserver.request("PUT", f"{ING_DEFAULT}/a",
                                          ingress("b"))
    assert status == 400
    assert body["message"] == \
        "the name of the object (b) does not match the name on the URL (a)"


def test_no_op_update_keeps_the_resource_version(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web"))
    again = api.put(obj)
    assert again["metadata"]["resourceVersion"] == \
        obj["metadata"]["resourceVersion"]


def test_generation_counts_spec_changes_but_not_status_or_labels(
        fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web"))
    assert obj["metadata"]["generation"] == 1
    obj = api.patch("Ingress", "web", {"metadata": {"labels": {"a": "b"}}})
    assert obj["metadata"]["generation"] == 1
    obj = api.patch("Ingress", "web", {"status": {"loadBalancer": {
        "ingress": [{"ip": "10.0.0.1"}]}}}, subresource="status")
    assert obj["metadata"]["generation"] == 1
    obj = api.patch("Ingress", "web", {"spec": {"ingressClassName": "x"}})
    assert obj["metadata"]["generation"] == 2


def test_status_subresource_never_writes_spec(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web"))
    obj["spec"]["rules"][0]["host"] = "changed.example.com"
    obj["metadata"]["labels"] = {"via": "status"}
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
    out = api.put(obj, subresource="status")
    assert out["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.1"}]
    assert out["spec"]["rules"][0]["host"] == "web.example.com"
    # ingressStatusStrategy resets only spec: metadata edits go through
    assert out["metadata"]["labels"] == {"via": "status"}
    assert rv(out) > rv(obj)


def test_crd_status_subresource_writes_only_status(fake_apiserver):
    api = fake_apiserver
    d = api.create({"apiVersion": "externaldns.k8s.io/v1alpha1",
                    "kind": "DNSEndpoint", "metadata": {"name": "d"},
                    "spec": {"endpoints": []}})
    d["metadata"]["labels"] = {"via": "status"}
    d["spec"]["endpoints"] = [{"dnsName": "x.example.com"}]
    d["status"] = {"observedGeneration": 1}
    out = api.put(d, subresource="status")
    assert out["status"] == {"observedGeneration": 1}
    assert out["spec"] == {"endpoints": []}
    assert "labels" not in out["metadata"]


def test_unknown_fields_are_dropped_with_a_warning_or_rejected_if_strict(
        fake_apiserver):
    api = fake_apiserver
    obj = ingress("web")
    obj["spec"]["hostz"] = "typo"
    obj["spec"]["rules"][0]["http"]["paths"][0]["pathtype"] = "Exact"
    status, body = api.request("POST", f"{ING_DEFAULT}?fieldValidation=Strict",
                               obj)
    assert status == 400
    assert body["message"] == (
        'Ingress in version "v1" cannot be handled as a Ingress: strict '
        'decoding error: unknown field "spec.rules[0].http.paths[0].pathtype"'
        ', unknown field "spec.hostz"')    # in document order
    status, headers, raw = api.request("POST", ING_DEFAULT, obj, raw=True)
    assert status == 201
    assert headers.get_all("Warning") == [
        '299 - "unknown field \\"spec.rules[0].http.paths[0].pathtype\\""',
        '299 - "unknown field \\"spec.hostz\\""']
    stored = api.get(f"{ING_DEFAULT}/web")
    assert "hostz" not in stored["spec"]
    assert stored["spec"]["rules"][0]["http"]["paths"][0]["pathType"] == \
        "Prefix"


def test_main_resource_put_ignores_status(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web"))
    obj = api.patch("Ingress", "web", {"status": {"loadBalancer": {
        "ingress": [{"hostname": "lb.example.com"}]}}}, subresource="status")
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.9.9.9"}]}}
    obj["spec"]["ingressClassName"] = "other"
    out = api.put(obj)
    assert out["spec"]["ingressClassName"] == "other"
    assert out["status"]["loadBalancer"]["ingress"] == [
        {"hostname": "lb.example.com"}]


def test_dnsendpoint_status_subresource_and_observed_generation(
        fake_apiserver):
    api = fake_apiserver
    d = api.create({"apiVersion": "externaldns.k8s.io/v1alpha1",
                    "kind": "DNSEndpoint", "metadata": {"name": "d"},
                    "spec": {"endpoints": [{"dnsName": "a.example.com",
                                            "recordType": "A",
                                            "targets": ["192.0.2.1"]}]}})
    assert d["metadata"]["generation"] == 1
    d["status"] = {"observedGeneration": 1}
    out = api.put(d, subresource="status")
    assert out["status"] == {"observedGeneration": 1}
    assert out["metadata"]["generation"] == 1
    status, body = api.request("PATCH", kind_path("DNSEndpoint", name="d"),
                               {"spec": {}}, STRATEGIC)
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"


def test_secret_string_data_is_merged_into_base64_data(fake_apiserver):
    api = fake_apiserver
    out = api.create({"kind": "Secret", "apiVersion": "v1",
                      "metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
                      "data": {"tls.crt": "Y3J0"},
                      "stringData": {"tls.key": "key-pem"}})
    assert "stringData" not in out
    assert out["data"] == {"tls.crt": "Y3J0", "tls.key": "a2V5LXBlbQ=="}
    status, body = api.request("POST", "/api/v1/namespaces/default/secrets",
                               {"metadata": {"name": "bad"},
                                "data": {"k": "not base64!"}})
    assert status == 400 and "illegal base64 data" in body["message"]
    status, body = api.request("POST", "/api/v1/namespaces/default/secrets",
                               {"metadata": {"name": "t2"},
                                "type": "kubernetes.io/tls",
                                "data": {"tls.crt": "Y3J0"}})
    assert status == 422 and "data[tls.key]: Required value" in body["message"]


@pytest.mark.parametrize("mutate, field, text", [
    (lambda o: o["spec"]["rules"][0]["http"]["paths"][0].pop("pathType"),
     "spec.rules[0].http.paths[0].pathType",
     "Required value: pathType must be specified"),
    (lambda o: o["spec"]["rules"][0]["http"]["paths"][0].update(path="api"),
     "spec.rules[0].http.paths[0].path",
     'Invalid value: "api": must be an absolute path'),
    (lambda o: o["spec"]["rules"][0]["http"]["paths"][0].update(
        pathType="Regex"), "spec.rules[0].http.paths[0].pathType",
     'Unsupported value: "Regex": supported values: "Exact", '
     '"ImplementationSpecific", "Prefix"'),
    (lambda o: o["spec"]["rules"][0].update(host="*"), "spec.rules[0].host",
     "a wildcard DNS-1123 subdomain must start with '*.'"),
    (lambda o: o["spec"]["rules"][0].update(host="a.*.example.com"),
     "spec.rules[0].host", "a wildcard DNS-1123 subdomain"),
    (lambda o: o["spec"]["rules"][0].update(host="10.0.0.1"),
     "spec.rules[0].host", "must be a DNS name, not an IP address"),
    (lambda o: o["metadata"].update(name="Web_1"), "metadata.name",
     "a lowercase RFC 1123 subdomain"),
])
def test_invalid_ingress_is_a_422_with_field_causes(fake_apiserver_module,
                                                   mutate, field, text):
    obj = ingress("web")
    mutate(obj)
    status, body = fake_apiserver_module.request("POST", ING_DEFAULT, obj)
    assert status == 422, body
    assert body["reason"] == "Invalid"
    name = obj["metadata"]["name"]
    assert body["message"].startswith(
        f'Ingress.networking.k8s.io "{name}" is invalid: ')
    assert text in body["message"]
    assert body["details"]["kind"] == "Ingress"
    assert any(c["field"] == field for c in body["details"]["causes"])


def test_wildcard_host_as_whole_first_label_is_accepted(fake_apiserver):
    out = fake_apiserver.create(ingress("w", host="*.example.com"))
    assert out["spec"]["rules"][0]["host"] == "*.example.com"


def test_missing_name_is_required(fake_apiserver):
    obj = ingress("x")
    del obj["metadata"]["name"]
    status, body = fake_apiserver.request("POST", ING_DEFAULT, obj)
    assert status == 422
    assert "metadata.name: Required value: name or generateName is " \
        "required" in body["message"]


def test_service_defaults_and_cluster_ip(fake_apiserver):
    svc = fake_apiserver.create({"kind": "Service", "metadata": {"name": "web"},
                                 "spec": {"ports": [{"port": 80,
                                                     "name": "http"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"][0] == {"port": 80, "name": "http", "protocol": "TCP",
                                "targetPort": 80}
    assert spec["clusterIP"].startswith("10.96.")
    assert "generation" not in svc["metadata"]


def test_service_put_without_cluster_ip_keeps_the_allocated_one(
        fake_apiserver):
    api = fake_apiserver
    svc = api.create({"kind": "Service", "metadata": {"name": "web"},
                      "spec": {"ports": [{"port": 80}]}})
    ip = svc["spec"]["clusterIP"]
    out = api.put({"kind": "Service", "metadata": {"name": "web"},
                   "spec": {"ports": [{"port": 81}]}})
    assert out["spec"]["clusterIP"] == ip
    changed = dict(out, spec=dict(out["spec"], clusterIP="10.96.99.99",
                                  clusterIPs=["10.96.99.99"]))
    status, body = api.request("PUT", "/api/v1/namespaces/default/services/"
                               "web", changed)
    assert status == 422 and "may not change once set" in body["message"]


def test_immutable_secret_data_cannot_change(fake_apiserver):
    api = fake_apiserver
    sec = api.create({"kind": "Secret", "metadata": {"name": "s"},
                      "immutable": True, "stringData": {"k": "v"}})
    sec["data"] = {"k": "dzI="}
    status, body = api.request("PUT", "/api/v1/namespaces/default/secrets/s",
                               sec)
    assert status == 422
    assert "data: Forbidden: field is immutable when `immutable` is set" in \
        body["message"]


def test_objects_are_written_in_the_real_field_order(fake_apiserver):
    api = fake_apiserver
    status, headers, raw = api.request("POST", ING_DEFAULT, {
        "spec": ingress("x")["spec"], "metadata": {"labels": {"a": "b"},
                                                   "name": "x"}}, raw=True)
    assert status == 201
    assert raw.startswith(b'{"kind":"Ingress","apiVersion":'
                          b'"networking.k8s.io/v1","metadata":{"name":"x",'
                          b'"namespace":"default","uid":')
    assert raw.endswith(b'"status":{"loadBalancer":{}}}\n')


def test_cluster_scoped_ingressclass_and_namespaces(fake_apiserver):
    api = fake_apiserver
    ic = api.create({"apiVersion": "networking.k8s.io/v1",
                     "kind": "IngressClass", "metadata": {
                         "name": "portico", "annotations": {
                             "ingressclass.kubernetes.io/is-default-class":
                                 "true"}},
                     "spec": {"controller": "portico.io/ingress-controller"}})
    assert "namespace" not in ic["metadata"]
    assert api.get(f"{ING}/ingressclasses/portico")["spec"]["controller"] == \
        "portico.io/ingress-controller"
    status, _ = api.request("GET", f"{ING}/namespaces/default/ingressclasses")
    assert status == 404
    names = [n["metadata"]["name"] for n in api.get("/api/v1/namespaces")[
        "items"]]
    assert {"default", "kube-system"} <= set(names)
    # objects may live in namespaces that were never created
    api.create(ingress("x", ns="never-created"))


def test_lease_put_race_is_a_conflict_like_leader_election(fake_apiserver):
    api = fake_apiserver
    lease = api.create({"apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease", "metadata": {"name": "portico-leader",
                                                      "namespace": "portico"},
                        "spec": {"holderIdentity": "a",
                                 "leaseDurationSeconds": 15,
                                 "renewTime": "2026-01-01T00:00:00.000000Z"}})
    path = kind_path("Lease", "portico", "portico-leader")
    a = dict(lease, spec=dict(lease["spec"], holderIdentity="a"))
    b = dict(lease, spec=dict(lease["spec"], holderIdentity="b"))
    a["spec"]["renewTime"] = "2026-01-01T00:00:05.000000Z"
    assert api.request("PUT", path, a)[0] == 200
    status, body = api.request("PUT", path, b)
    assert status == 409
    assert body["message"].startswith(
        'Operation cannot be fulfilled on leases.coordination.k8s.io '
        '"portico-leader"')


def test_lease_times_must_be_microtime_and_come_back_in_utc(
        fake_apiserver_module):
    api = fake_apiserver_module
    path = kind_path("Lease", "times")
    status, body = api.request("POST", path, {
        "metadata": {"name": "seconds"},
        "spec": {"holderIdentity": "a",
                 "renewTime": "2026-01-01T00:00:00Z"}})
    assert status == 400
    assert body["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: parsing time '
        '"2026-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": '
        'cannot parse "Z" as ".000000"')
    status, body = api.request("POST", path, {
        "metadata": {"name": "micro"},
        "spec": {"holderIdentity": "a",
                 "acquireTime": "2026-01-01T02:00:00.123456+02:00"}})
    assert status == 201
    assert body["spec"]["acquireTime"] == "2026-01-01T00:00:00.123456Z"


def test_endpointslices_are_listed_by_service_name_label(fake_apiserver):
    api = fake_apiserver
    for name, svc in (("web-abc", "web"), ("web-def", "web"),
                      ("api-xyz", "api")):
        api.create({"apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"name": name, "labels": {
                        "kubernetes.io/service-name": svc}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": ["10.1.0.1"],
                                   "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": 8080}]})
    lst = api.list("/apis/discovery.k8s.io/v1/namespaces/default/"
                   "endpointslices",
                   labelSelector="kubernetes.io/service-name=web")
    assert [i["metadata"]["name"] for i in lst["items"]] == ["web-abc",
                                                             "web-def"]
    assert lst["items"][0]["ports"][0]["protocol"] == "TCP"


def test_event_must_be_in_its_involved_objects_namespace(
        fake_apiserver_module):
    status, body = fake_apiserver_module.request(
        "POST", "/api/v1/namespaces/team/events", {
            "metadata": {"name": "web.2"},
            "involvedObject": {"kind": "Ingress", "name": "web",
                               "namespace": "other"},
            "reason": "Sync", "message": "configured", "type": "Normal"})
    assert status == 422
    assert body["message"] == (
        'Event "web.2" is invalid: involvedObject.namespace: Invalid value: '
        '"other": does not match event.namespace')


def test_events_can_be_recorded(fake_apiserver):
    ev = fake_apiserver.create({
        "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Ingress", "name": "web",
                           "namespace": "default"},
        "reason": "Sync", "message": "configured", "type": "Normal"})
    lst = fake_apiserver.list("/api/v1/namespaces/default/events",
                              fieldSelector="involvedObject.name=web")
    assert [e["metadata"]["name"] for e in lst["items"]] == ["web.1"]
    assert ev["reason"] == "Sync"


# --- LIST: pagination and selectors ------------------------------------------

def test_list_pages_share_one_resource_version_and_count_what_remains(
        fake_apiserver):
    api = fake_apiserver
    for i in range(5):
        api.create(ingress(f"ing{i}"))
    p1 = api.list(ING_DEFAULT, limit=2)
    list_rv = p1["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in p1["items"]] == ["ing0", "ing1"]
    assert p1["metadata"]["remainingItemCount"] == 3
    # a write between pages does not show up: pages are read at the list RV
    api.patch("Ingress", "ing4", {"metadata": {"labels": {"late": "yes"}}})
    p2 = api.list(ING_DEFAULT, limit=2, **{"continue":
                                          p1["metadata"]["continue"]})
    assert p2["metadata"]["resourceVersion"] == list_rv
    assert p2["metadata"]["remainingItemCount"] == 1
    p3 = api.list(ING_DEFAULT, limit=2, **{"continue":
                                          p2["metadata"]["continue"]})
    assert p3["metadata"]["resourceVersion"] == list_rv
    assert [i["metadata"]["name"] for i in p3["items"]] == ["ing4"]
    assert "labels" not in p3["items"][0]["metadata"]
    assert not p3["metadata"].get("continue")
    assert "remainingItemCount" not in p3["metadata"]


def test_all_namespaces_list_is_in_etcd_key_order_across_pages(
        fake_apiserver):
    api = fake_apiserver
    for ns, name in (("a", "z"), ("a-b", "a"), ("a", "b"), ("b", "a")):
        api.create(ingress(name, ns=ns))
    # keys "a-b/a" < "a/b" < "a/z" < "b/a" ('-' sorts before '/')
    want = [("a-b", "a"), ("a", "b"), ("a", "z"), ("b", "a")]
    lst = api.get(f"{ING}/ingresses")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"])
            for i in lst["items"]] == want
    got, token = [], None
    while True:
        params = {"limit": 1, **({"continue": token} if token else {})}
        page = api.list(f"{ING}/ingresses", **params)
        got += [(i["metadata"]["namespace"], i["metadata"]["name"])
                for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert got == want
    assert len(api.get(f"{ING}/namespaces/a/ingresses")["items"]) == 2


def test_resource_version_zero_list_ignores_limit(fake_apiserver):
    for i in range(3):
        fake_apiserver.create(ingress(f"i{i}"))
    lst = fake_apiserver.list(ING_DEFAULT, limit=1, resourceVersion="0")
    assert len(lst["items"]) == 3
    assert not lst["metadata"].get("continue")


def test_expired_continue_token_is_410_with_a_token_to_go_on(fake_apiserver):
    api = fake_apiserver
    for i in range(3):
        api.create(ingress(f"i{i}"))
    p1 = api.list(ING_DEFAULT, limit=1)
    api.expire_continue()
    status, body = api.request(
        "GET", f"{ING_DEFAULT}?limit=1&continue={p1['metadata']['continue']}")
    assert status == 410
    assert body["reason"] == "Expired"
    assert body["message"].startswith("The provided continue parameter is "
                                      "too old")
    token = body["metadata"]["continue"]
    p2 = api.list(ING_DEFAULT, limit=5, **{"continue": token})
    assert [i["metadata"]["name"] for i in p2["items"]] == ["i1", "i2"]


def preload(tmp_path, objects, name="preload.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


def test_preloaded_objects_are_created_as_posts_would(fake_apiserver_factory,
                                                      tmp_path):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"ports": [{"port": 80}]}}
    ing = ingress("pre")
    ing["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
    api = fake_apiserver_factory(extra_args=["--preload",
                                             str(preload(tmp_path, [svc, ing]))])
    got = api.get("/api/v1/namespaces/default/services/web")
    assert got["spec"]["clusterIP"].startswith("10.96.")   # defaulted
    assert got["metadata"]["uid"] and got["metadata"]["creationTimestamp"]
    pre = api.get(f"{ING_DEFAULT}/pre")
    assert pre["status"] == {"loadBalancer": {}}    # a create drops status
    assert rv(pre) == rv(got) + 1                   # one revision each
    # Listed and watched like any object: a watch from the list's RV sees
    # the next change only.
    lst = api.list(ING_DEFAULT)
    assert [i["metadata"]["name"] for i in lst["items"]] == ["pre"]
    w = api.watch(ING_DEFAULT, resourceVersion=lst["metadata"]
                  ["resourceVersion"])
    api.create(ingress("later"))
    ev = w.next(timeout=5)
    assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED",
                                                              "later")


def test_a_refused_preload_object_stops_the_start_with_its_reason(tmp_path):
    bad = ingress("bad", path="relative")
    p = subprocess.run([str(KUBE_APISERVER), "--listen", "127.0.0.1:0",
                        "--max-lifetime", "5", "--preload",
                        str(preload(tmp_path, [ingress("ok"), bad]))],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "--preload" in p.stderr and 'Ingress.networking.k8s.io "bad" ' \
        'is invalid' in p.stderr, p.stderr


def test_list_pages_of_many_objects_give_each_once_at_the_list_rv(
        fake_apiserver_factory, tmp_path):
    objs = [ingress(f"i{i:04d}", ns=ns) for ns in ("a", "b")
            for i in range(600)]
    api = fake_apiserver_factory(extra_args=["--preload",
                                             str(preload(tmp_path, objs))])
    for path, want in ((f"{ING}/ingresses", [("a", f"i{i:04d}") for i in
                                             range(600)] +
                        [("b", f"i{i:04d}") for i in range(600)]),
                       (f"{ING}/namespaces/b/ingresses",
                        [("b", f"i{i:04d}") for i in range(600)])):
        got, token, first = [], None, None
        while True:
            page = api.list(path, limit=250,
                            **({"continue": token} if token else {}))
            first = first or page["metadata"]["resourceVersion"]
            assert page["metadata"]["resourceVersion"] == first
            got += [(i["metadata"]["namespace"], i["metadata"]["name"])
                    for i in page["items"]]
            token = page["metadata"].get("continue")
            if not token:
                break
            assert page["metadata"]["remainingItemCount"] == \
                len(want) - len(got)
            # Writes between pages do not show: pages read at the list RV.
            if len(got) == 250:
                api.delete("Ingress", "i0599", namespace="b")
            if len(got) == 500:
                api.create(ingress("i0300x", ns="b"))
        assert got == want
        api.create(ingress("i0599", ns="b"))        # as it was
        api.delete("Ingress", "i0300x", namespace="b")


@pytest.fixture(scope="module")
def labelled_ingresses(fake_apiserver_module):
    api = fake_apiserver_module
    for name, labels in (("a", {"app": "web", "ssl": "true"}),
                         ("b", {"app": "web"}), ("c", {"app": "api"}),
                         ("d", {})):
        api.create(ingress(name, ns="selectors", labels=labels))
    return api


@pytest.mark.parametrize("selector, names", [
    ("app=web", ["a", "b"]),
    ("app==web", ["a", "b"]),
    ("app!=web", ["c", "d"]),
    ("app in (web,api)", ["a", "b", "c"]),
    ("app notin (web)", ["c", "d"]),
    ("ssl", ["a"]),
    ("!ssl", ["b", "c", "d"]),
    ("app=web,!ssl", ["b"]),
    ("ssl=true,app in (web)", ["a"]),
])
def test_label_selectors(labelled_ingresses, selector, names):
    lst = labelled_ingresses.list(f"{ING}/namespaces/selectors/ingresses",
                                  labelSelector=selector)
    assert [i["metadata"]["name"] for i in lst["items"]] == names


def test_bad_label_selector_is_400(fake_apiserver):
    status, body = fake_apiserver.request(
        "GET", f"{ING_DEFAULT}?labelSelector=app%20in%20web")
    assert status == 400 and body["reason"] == "BadRequest"


def test_field_selectors_on_name_and_namespace(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("a", ns="n1"))
    api.create(ingress("b", ns="n1"))
    api.create(ingress("a", ns="n2"))
    lst = api.list(f"{ING}/ingresses", fieldSelector="metadata.name=a")
    assert [i["metadata"]["namespace"] for i in lst["items"]] == ["n1", "n2"]
    lst = api.list(f"{ING}/ingresses",
                   fieldSelector="metadata.namespace==n1,metadata.name!=a")
    assert [i["metadata"]["name"] for i in lst["items"]] == ["b"]
    status, body = api.request("GET", f"{ING}/ingresses?fieldSelector="
                                      "spec.ingressClassName%3Dx")
    assert status == 400
    assert body["message"] == "field label not supported: " \
        "spec.ingressClassName"


# --- WATCH -------------------------------------------------------------------

def test_watch_streams_chunked_events_after_the_resource_version(
        fake_apiserver):
    api = fake_apiserver
    start = rv(api.create(ingress("before")))
    with api.watch(ING_DEFAULT, resourceVersion=str(start)) as w:
        assert w.status == 200
        assert w.headers["Transfer-Encoding"] == "chunked"
        assert w.headers["Content-Type"] == "application/json"
        created = api.create(ingress("web"))
        ev = w.next()
        assert ev["type"] == "ADDED"
        assert ev["object"]["kind"] == "Ingress"
        assert ev["object"]["apiVersion"] == "networking.k8s.io/v1"
        assert ev["object"]["metadata"]["resourceVersion"] == \
            created["metadata"]["resourceVersion"]
        modified = api.patch("Ingress", "web",
                             {"metadata": {"labels": {"x": "1"}}})
        ev = w.next()
        assert ev["type"] == "MODIFIED"
        assert ev["object"]["metadata"]["labels"] == {"x": "1"}
        api.delete("Ingress", "web")
        ev = w.next()
        assert ev["type"] == "DELETED"
        # the last state, at the deletion's revision
        assert ev["object"]["metadata"]["labels"] == {"x": "1"}
        assert rv(ev["object"]) > rv(modified)


def test_watch_replays_history_after_an_old_resource_version(fake_apiserver):
    api = fake_apiserver
    start = rv(api.create(ingress("a")))
    api.create(ingress("b"))
    api.delete("Ingress", "a")
    with api.watch(ING_DEFAULT, resourceVersion=str(start)) as w:
        types = [(e["type"], e["object"]["metadata"]["name"])
                 for e in (w.next(), w.next())]
    assert types == [("ADDED", "b"), ("DELETED", "a")]


def test_watch_without_resource_version_starts_with_synthetic_added(
        fake_apiserver):
    api = fake_apiserver
    api.create(ingress("a"))
    api.create(ingress("b"))
    with api.watch(ING_DEFAULT) as w:
        first = [w.next(), w.next()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] \
            == [("ADDED", "a"), ("ADDED", "b")]
        api.create(ingress("c"))
        assert w.next()["object"]["metadata"]["name"] == "c"


def test_watch_list_sends_initial_events_then_an_end_bookmark(
        fake_apiserver):
    api = fake_apiserver
    api.create(ingress("a"))
    last = api.create(ingress("b"))
    with api.watch(ING_DEFAULT, sendInitialEvents="true",
                   resourceVersionMatch="NotOlderThan",
                   allowWatchBookmarks="true") as w:
        assert [w.next()["type"], w.next()["type"]] == ["ADDED", "ADDED"]
        ev = w.next()
        assert ev["type"] == "BOOKMARK"
        assert ev["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"}
        assert int(ev["object"]["metadata"]["resourceVersion"]) >= rv(last)


class RawWatch:
    """A watch read at the byte level (TLS socket, HTTP/1.1 by hand)."""

    def __init__(self, api, path):
        self.plain = socket.create_connection((api.host, api.port), timeout=5)
        self.sock = api._ssl.wrap_socket(self.plain, server_hostname=api.host)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {api.token}\r\n\r\n"
                          .encode())
        self.f = self.sock.makefile("rb")
        self.status_line = self.f.readline()
        while self.f.readline() not in (b"\r\n", b""):
            pass

    def chunk(self):
        size = int(self.f.readline().strip(), 16)
        data = self.f.read(size)
        assert self.f.read(2) == b"\r\n"
        return data

    def rest(self, limit=None):
        """Bytes until EOF, or until `limit` bytes arrived (a finished
        watch leaves the keep-alive connection open)."""
        out = b""
        while limit is None or len(out) < limit:
            try:
                b = self.f.read1(4096)
            except (ConnectionError, OSError):
                break
            if not b:
                break
            out += b
        return out

    def close(self):
        self.sock.close()


def test_send_initial_events_needs_bookmarks_and_not_older_than(
        fake_apiserver_module):
    api = fake_apiserver_module
    status, body = api.request("GET", f"{ING_DEFAULT}?watch=1&"
                                      "sendInitialEvents=true")
    assert status == 422
    assert body["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: '
        'Forbidden: sendInitialEvents requires setting resourceVersionMatch '
        'to NotOlderThan, allowWatchBookmarks: Forbidden: '
        'allowWatchBookmarks must be set to true when sendInitialEvents is '
        'set]')


def test_each_watch_event_is_one_json_line_in_its_own_chunk(fake_apiserver):
    api = fake_apiserver
    start = rv(api.create(ingress("a")))
    api.create(ingress("b"))
    w = RawWatch(api, f"{ING_DEFAULT}?watch=1&resourceVersion={start}")
    try:
        assert w.status_line.startswith(b"HTTP/1.1 200")
        chunk = w.chunk()
        assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1
        assert json.loads(chunk)["object"]["metadata"]["name"] == "b"
    finally:
        w.close()


@pytest.mark.parametrize("mode, tail", [("clean", b"0\r\n\r\n"),
                                        ("reset", b"")])
def test_close_watches_ends_streams_cleanly_or_by_reset(fake_apiserver, mode,
                                                        tail):
    api = fake_apiserver
    w = RawWatch(api, f"{ING_DEFAULT}?watch=1&resourceVersion=1")
    try:
        api.wait_watches(1)
        api.close_watches(mode=mode)
        # the terminating chunk (connection stays open), or just EOF
        assert w.rest(limit=len(tail) or None) == tail
    finally:
        w.close()


def test_too_old_resource_version_gives_200_then_one_410_error_event(
        fake_apiserver):
    api = fake_apiserver
    old = rv(api.create(ingress("a")))
    api.create(ingress("b"))
    api.restart(lose_history=True)
    floor = api.state()["historyFloor"]
    with api.watch(ING_DEFAULT, resourceVersion=str(old)) as w:
        assert w.status == 200
        ev = w.next()
        assert ev == {"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {old} ({floor})",
            "reason": "Expired", "code": 410}}
        assert w.next() is None
    # objects survived the restart; a relist + watch from its RV works
    lst = api.get(ING_DEFAULT)
    assert len(lst["items"]) == 2
    with api.watch(ING_DEFAULT,
                   resourceVersion=lst["metadata"]["resourceVersion"]) as w:
        api.create(ingress("c"))
        assert w.next()["type"] == "ADDED"


def test_bounded_history_expires_old_watch_positions(fake_apiserver_factory):
    api = fake_apiserver_factory(history_size=3)
    first = rv(api.create(ingress("i0")))
    for i in range(1, 6):
        api.create(ingress(f"i{i}"))
    with api.watch(ING_DEFAULT, resourceVersion=str(first)) as w:
        ev = w.next()
        assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
        assert ev["object"]["message"].startswith(
            f"too old resource version: {first} (")


def test_watch_ends_cleanly_at_timeout_seconds(fake_apiserver):
    api = fake_apiserver
    t0 = time.monotonic()
    with api.watch(ING_DEFAULT, resourceVersion=str(api.state()[
            "resourceVersion"]), timeoutSeconds="1") as w:
        assert w.next(timeout=5) is None      # no events, then end of stream
    assert 0.9 <= time.monotonic() - t0 < 3


def test_bookmarks_arrive_periodically_only_when_allowed(
        fake_apiserver_factory):
    api = fake_apiserver_factory(bookmark_interval=0.3)
    cur = api.create(ingress("a"))
    svc_rv = rv(api.create({"kind": "Service", "metadata": {"name": "s"},
                            "spec": {"ports": [{"port": 80}]}}))
    with api.watch(ING_DEFAULT, resourceVersion=str(rv(cur)),
                   allowWatchBookmarks="true", timeoutSeconds="3") as w:
        t0 = time.monotonic()
        ev = w.next(timeout=2)
        assert ev["type"] == "BOOKMARK"
        assert time.monotonic() - t0 >= 0.2
        assert ev["object"] == {"kind": "Ingress",
                                "apiVersion": "networking.k8s.io/v1",
                                "metadata": {"resourceVersion": str(svc_rv)}}
        assert w.next(timeout=2)["type"] == "BOOKMARK"
    with api.watch(ING_DEFAULT, resourceVersion=str(rv(cur)),
                   timeoutSeconds="1") as w:
        assert w.next(timeout=3) is None


def test_bookmark_interval_can_be_changed_at_runtime(fake_apiserver):
    api = fake_apiserver              # default interval 60 s
    with api.watch(ING_DEFAULT, resourceVersion="1",
                   allowWatchBookmarks="true") as w:
        api.wait_watches(1)
        api.set_bookmark_interval(0.2)
        assert w.next(timeout=2)["type"] == "BOOKMARK"
        api.set_bookmark_interval(60)
        api.bookmark_now()
        assert w.next(timeout=2)["type"] == "BOOKMARK"


def test_label_selector_watch_reports_objects_entering_and_leaving(
        fake_apiserver):
    api = fake_apiserver
    start = rv(api.create(ingress("web", labels={"ssl": "false"})))
    with api.watch(ING_DEFAULT, resourceVersion=str(start),
                   labelSelector="ssl=true") as w:
        api.patch("Ingress", "web", {"metadata": {"labels": {"ssl": "true"}}})
        ev = w.next()
        assert ev["type"] == "ADDED"
        api.patch("Ingress", "web", {"spec": {"ingressClassName": "b"}})
        assert w.next()["type"] == "MODIFIED"
        left = api.patch("Ingress", "web",
                         {"metadata": {"labels": {"ssl": "false"}}})
        ev = w.next()
        assert ev["type"] == "DELETED"
        # the previous (matching) state, at the event's revision
        assert ev["object"]["metadata"]["labels"] == {"ssl": "true"}
        assert ev["object"]["metadata"]["resourceVersion"] == \
            left["metadata"]["resourceVersion"]
        api.create(ingress("other", labels={"ssl": "true"}))
        assert w.next()["object"]["metadata"]["name"] == "other"


def test_namespaced_watch_sees_only_its_namespace(fake_apiserver):
    api = fake_apiserver
    start = api.state()["resourceVersion"]
    with api.watch(f"{ING}/namespaces/a/ingresses",
                   resourceVersion=str(start)) as wa, \
            api.watch(f"{ING}/ingresses", resourceVersion=str(start)) as wall:
        api.create(ingress("x", ns="b"))
        api.create(ingress("y", ns="a"))
        assert wa.next()["object"]["metadata"]["name"] == "y"
        assert [wall.next()["object"]["metadata"]["name"] for _ in "12"] == \
            ["x", "y"]


def test_a_watch_whose_client_left_is_not_counted(fake_apiserver):
    api = fake_apiserver
    w = api.watch(ING_DEFAULT, resourceVersion="1")
    api.wait_watches(1)
    w.close()
    deadline = time.monotonic() + 5
    while api.state()["openWatches"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.state()["openWatches"] == 0


def test_close_watches_ends_every_open_stream(fake_apiserver):
    api = fake_apiserver
    with api.watch(ING_DEFAULT, resourceVersion="1") as w1, \
            api.watch("/api/v1/services", resourceVersion="1") as w2:
        api.wait_watches(2)
        assert api.close_watches() == 2
        assert w1.next(timeout=3) is None
        assert w2.next(timeout=3) is None


# --- PATCH -------------------------------------------------------------------

def test_merge_patch_with_null_deletes_and_stale_rv_conflicts(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web", labels={"a": "1", "b": "2"}))
    out = api.patch("Ingress", "web", {"metadata": {"labels": {"a": None,
                                                               "c": "3"}}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    status, body = api.request(
        "PATCH", f"{ING_DEFAULT}/web",
        {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                      "labels": {"d": "4"}}}, MERGE)
    assert status == 409 and body["message"] == CONFLICT_MSG.format("web")


def test_json_patch_operations_and_failed_test_op(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("web"))
    ops = [{"op": "add", "path": "/metadata/annotations",
            "value": {"a/b": "1"}},
           {"op": "replace", "path": "/spec/rules/0/host",
            "value": "new.example.com"},
           {"op": "test", "path": "/spec/ingressClassName",
            "value": "portico"},
           {"op": "remove", "path": "/spec/ingressClassName"}]
    out = api.patch("Ingress", "web", ops, JSONPATCH)
    assert out["metadata"]["annotations"] == {"a/b": "1"}
    assert out["spec"]["rules"][0]["host"] == "new.example.com"
    assert "ingressClassName" not in out["spec"]
    status, body = api.request("PATCH", f"{ING_DEFAULT}/web", [
        {"op": "test", "path": "/spec/rules/0/host", "value": "x"}], JSONPATCH)
    assert status == 422


def test_strategic_merge_patch_merges_service_ports_by_port(fake_apiserver):
    api = fake_apiserver
    api.create({"kind": "Service", "metadata": {"name": "web"},
                "spec": {"ports": [{"name": "http", "port": 80},
                                   {"name": "https", "port": 443}]}})
    path = "/api/v1/namespaces/default/services/web"
    status, out = api.request("PATCH", path, {"spec": {"ports": [
        {"port": 443, "targetPort": 8443},
        {"port": 9000, "name": "metrics"}]}}, STRATEGIC)
    assert status == 200, out
    ports = {p["port"]: p for p in out["spec"]["ports"]}
    assert set(ports) == {80, 443, 9000}
    assert ports[443]["targetPort"] == 8443 and ports[443]["name"] == "https"
    status, out = api.request("PATCH", path, {"spec": {"ports": [
        {"port": 80, "$patch": "delete"}]}}, STRATEGIC)
    assert sorted(p["port"] for p in out["spec"]["ports"]) == [443, 9000]
    # lists without a merge key (Ingress rules) are replaced
    api.create(ingress("ing"))
    status, out = api.request("PATCH", f"{ING_DEFAULT}/ing", {"spec": {
        "rules": [{"host": "only.example.com"}]}}, STRATEGIC)
    assert out["spec"]["rules"] == [{"host": "only.example.com"}]


def test_patch_of_missing_object_is_not_found(fake_apiserver):
    status, body = fake_apiserver.request("PATCH", f"{ING_DEFAULT}/ghost",
                                          {"metadata": {}}, MERGE)
    assert status == 404 and body["reason"] == "NotFound"


def test_unknown_patch_type_is_415(fake_apiserver):
    fake_apiserver.create(ingress("web"))
    status, body = fake_apiserver.request("PATCH", f"{ING_DEFAULT}/web", {},
                                          "text/plain")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"


# --- DELETE ------------------------------------------------------------------

def test_delete_answers_a_success_status_with_uid(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web"))
    status, body = api.request("DELETE", f"{ING_DEFAULT}/web")
    assert status == 200
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success",
                    "details": {"name": "web", "group": "networking.k8s.io",
                                "kind": "ingresses",
                                "uid": obj["metadata"]["uid"]}}
    assert api.request("GET", f"{ING_DEFAULT}/web")[0] == 404
    assert api.request("DELETE", f"{ING_DEFAULT}/web")[0] == 404


def test_delete_with_finalizers_waits_until_they_are_removed(fake_apiserver):
    api = fake_apiserver
    obj = api.create(ingress("web", finalizers=["portico.io/cleanup"]))
    with api.watch(ING_DEFAULT, resourceVersion=str(rv(obj))) as w:
        status, body = api.request("DELETE", f"{ING_DEFAULT}/web")
        assert status == 200 and body["metadata"]["deletionTimestamp"]
        ev = w.next()
        assert ev["type"] == "MODIFIED"
        assert ev["object"]["metadata"]["deletionTimestamp"]
        api.patch("Ingress", "web", {"metadata": {"finalizers": None}})
        assert w.next()["type"] == "DELETED"
    assert api.request("GET", f"{ING_DEFAULT}/web")[0] == 404


def test_delete_collection_by_label_selector(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("a", labels={"team": "x"}))
    api.create(ingress("b", labels={"team": "x"}))
    api.create(ingress("c", labels={"team": "y"}))
    status, body = api.request("DELETE", f"{ING_DEFAULT}?labelSelector=team%3Dx")
    assert status == 200 and body["kind"] == "IngressList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "b"]
    left = api.get(ING_DEFAULT)["items"]
    assert [i["metadata"]["name"] for i in left] == ["c"]


def test_delete_precondition_on_resource_version(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("web"))
    status, body = api.request("DELETE", f"{ING_DEFAULT}/web", {
        "preconditions": {"resourceVersion": "1"}})
    assert status == 409 and "Precondition failed" in body["message"]


# --- authentication, authorisation, access log ---------------------------------

def test_missing_or_wrong_token_is_401_unauthorized(fake_apiserver):
    api = fake_apiserver
    unauthorized = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "message": "Unauthorized",
                    "reason": "Unauthorized", "code": 401}
    assert api.request("GET", ING_DEFAULT, token=None) == (401, unauthorized)
    assert api.request("GET", ING_DEFAULT, token="wrong") == (401,
                                                             unauthorized)
    assert api.request("GET", "/api", token=None)[0] == 401
    assert api.request("GET", "/apis/no.such/v1/things", token=None)[0] == \
        401                                # authentication comes first
    assert api.request("GET", "/healthz", token=None)[0] == 200
    assert api.request("GET", ING_DEFAULT)[0] == 200


def test_token_rotation_accepts_only_the_new_token(fake_apiserver):
    api = fake_apiserver
    old = api.token
    api.rotate_token("second-token", keep_old=True)
    assert api.request("GET", ING_DEFAULT, token=old)[0] == 200
    assert api.request("GET", ING_DEFAULT)[0] == 200
    api.rotate_token("third-token")
    assert api.request("GET", ING_DEFAULT, token=old)[0] == 401
    assert open(api.token_file).read() == "third-token"
    assert api.request("GET", ING_DEFAULT)[0] == 200
    assert json.loads(ok(api.kubectl("get", "ingresses", "-o", "json")))[
        "kind"] == "List"


def test_rejected_request_bodies_do_not_poison_keep_alive_connections(
        fake_apiserver):
    api = fake_apiserver
    conn = api._conn(5)
    body = json.dumps(ingress("web"))
    try:
        for token, want in (("wrong", 401), (api.token, 201)):
            conn.request("POST", ING_DEFAULT, body, {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == want
            resp.read()
        conn.request("GET", f"{ING_DEFAULT}/web",
                     headers={"Authorization": f"Bearer {api.token}"})
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_in_cluster_service_account_dir_serves_a_client(fake_apiserver):
    api = fake_apiserver
    sa_dir, env = api.in_cluster(namespace="portico")
    token = open(os.path.join(sa_dir, "token")).read()
    assert open(os.path.join(sa_dir, "namespace")).read() == "portico"
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(sa_dir, "ca.crt"))
    conn = http.client.HTTPSConnection(env["KUBERNETES_SERVICE_HOST"],
                                       int(env["KUBERNETES_SERVICE_PORT"]),
                                       context=ctx, timeout=5)
    conn.request("GET", "/api", headers={"Authorization": f"Bearer {token}"})
    assert conn.getresponse().status == 200
    conn.close()
    api.rotate_token("rotated")
    assert open(os.path.join(sa_dir, "token")).read() == "rotated"


def test_allow_list_forbids_everything_else_with_the_rbac_message(
        fake_apiserver):
    api = fake_apiserver
    api.create(ingress("web"))
    api.set_allow(["list ingresses", "watch ingresses",
                   "update ingresses/status", "get ingresses"])
    assert api.request("GET", f"{ING}/ingresses")[0] == 200
    obj = api.get(f"{ING_DEFAULT}/web")
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}]}}
    assert api.request("PUT", f"{ING_DEFAULT}/web/status", obj)[0] == 200
    status, body = api.request("PUT", f"{ING_DEFAULT}/web", obj)
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'ingresses.networking.k8s.io "web" is forbidden: User '
        '"system:serviceaccount:default:default" cannot update resource '
        '"ingresses" in API group "networking.k8s.io" in the namespace '
        '"default"')
    assert body["details"] == {"name": "web", "group": "networking.k8s.io",
                               "kind": "ingresses"}
    status, body = api.request("GET", "/api/v1/secrets")
    assert status == 403
    assert body["message"] == (
        'secrets is forbidden: User "system:serviceaccount:default:default" '
        'cannot list resource "secrets" in API group "" at the cluster scope')
    api.set_allow(None)
    assert api.request("GET", "/api/v1/secrets")[0] == 200


DNSEP = "/apis/externaldns.k8s.io/v1alpha1/namespaces/default/dnsendpoints"


def dnsendpoint(name):
    return {"apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"endpoints": [{"dnsName": "a.example.com",
                                    "recordType": "A",
                                    "targets": ["192.0.2.1"]}]}}


def test_a_deleted_crd_takes_its_objects_and_paths_with_it(fake_apiserver):
    """As when the DNSEndpoint CRD is deleted (or was never installed):
    the objects go (watchers see DELETED), the watch ends, the paths answer
    net/http's plain 404 (not a Status), discovery forgets the group."""
    api = fake_apiserver
    api.create(dnsendpoint("d"))
    with api.watch(DNSEP, resourceVersion="1") as w:
        assert w.next()["type"] == "ADDED"
        api.remove_crd()
        ev = w.next()
        assert ev["type"] == "DELETED"
        assert ev["object"]["metadata"]["name"] == "d"
        assert w.next(timeout=3) is None
    status, headers, body = api.request("GET", DNSEP, raw=True)
    assert (status, body) == (404, b"404 page not found\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert api.request("POST", DNSEP, dnsendpoint("e"))[0] == 404
    assert api.request("GET", "/apis/externaldns.k8s.io/v1alpha1")[0] == 404
    groups = [g["name"] for g in api.get("/apis")["groups"]]
    assert "externaldns.k8s.io" not in groups
    assert "networking.k8s.io" in groups
    # Installed again: served, empty.
    api.install_crd()
    assert api.get(DNSEP)["items"] == []
    assert api.request("POST", DNSEP, dnsendpoint("e"))[0] == 201


def test_server_started_without_the_crd_does_not_serve_it(
        fake_apiserver_factory):
    api = fake_apiserver_factory(
        extra_args=["--without-crd", "dnsendpoints.externaldns.k8s.io"])
    assert api.request("GET", DNSEP)[0] == 404
    assert api.request("GET", f"{DNSEP}?watch=1")[0] == 404


def test_rbac_is_checked_before_an_unserved_type_is_found(fake_apiserver):
    """Authorisation runs on the request's attributes before the handler
    that would find the type missing: forbidden is 403 either way."""
    api = fake_apiserver
    api.remove_crd()
    api.set_allow(["list ingresses"])
    status, body = api.request("GET", DNSEP)
    assert status == 403
    assert body["message"] == (
        'dnsendpoints.externaldns.k8s.io is forbidden: User '
        '"system:serviceaccount:default:default" cannot list resource '
        '"dnsendpoints" in API group "externaldns.k8s.io" in the namespace '
        '"default"')
    api.set_allow(["list dnsendpoints"])
    assert api.request("GET", DNSEP)[0] == 404
    api.set_allow(None)


PODS = "/api/v1/namespaces/default/pods"


def pod(name, labels):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "portico"}]}}


def test_pods_start_pending_and_list_by_labels_and_phase(fake_apiserver):
    api = fake_apiserver
    app = {"app.kubernetes.io/name": "portico"}
    for name in ("a", "b"):
        created = api.create(pod(name, app))
        assert created["status"] == {"phase": "Pending"}
        assert created["spec"]["restartPolicy"] == "Always"
    api.create(pod("other", {"app.kubernetes.io/name": "other"}))
    api.patch("Pod", "a", {"status": {"phase": "Running"}},
              subresource="status")
    names = [p["metadata"]["name"] for p in api.list(
        PODS, labelSelector="app.kubernetes.io/name=portico")["items"]]
    assert names == ["a", "b"]
    names = [p["metadata"]["name"] for p in api.list(
        PODS, fieldSelector="status.phase=Running")["items"]]
    assert names == ["a"]
    names = [p["metadata"]["name"] for p in api.list(
        PODS, fieldSelector="metadata.name=b")["items"]]
    assert names == ["b"]
    status, body = api.request("POST", PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "empty"}, "spec": {}})
    assert status == 422
    assert "spec.containers: Required value" in body["message"]


def test_allow_list_file_given_at_start(fake_apiserver_factory):
    api = fake_apiserver_factory(allow=["list *", "* services"])
    assert api.request("GET", ING_DEFAULT)[0] == 200
    assert api.request("POST", "/api/v1/namespaces/default/services", {
        "metadata": {"name": "s"}, "spec": {"ports": [{"port": 1}]}})[0] \
        == 201
    assert api.request("POST", ING_DEFAULT, ingress("x"))[0] == 403


def test_allow_list_file_of_simple_lines(fake_apiserver_factory, tmp_path):
    rules = tmp_path / "allow.txt"
    rules.write_text("# what the status writer may do\n"
                     "get ingresses\n"
                     "update ingresses/status   # only status\n")
    api = fake_apiserver_factory(extra_args=("--allow", str(rules)))
    assert api.state()["allow"] == ["get ingresses", "update ingresses/status"]
    assert api.request("GET", f"{ING_DEFAULT}/web")[0] == 404   # allowed
    assert api.request("GET", ING_DEFAULT)[0] == 403            # list: no
    assert api.request("POST", ING_DEFAULT, ingress("web"))[0] == 403


def test_strict_namespaces_rejects_objects_in_missing_namespaces(
        fake_apiserver_factory):
    api = fake_apiserver_factory(extra_args=("--strict-namespaces",))
    status, body = api.request("POST", f"{ING}/namespaces/nope/ingresses",
                               ingress("x", ns="nope"))
    assert status == 404 and body["message"] == 'namespaces "nope" not found'
    api.create({"kind": "Namespace", "metadata": {"name": "nope"}})
    assert api.request("POST", f"{ING}/namespaces/nope/ingresses",
                       ingress("x", ns="nope"))[0] == 201


def test_access_log_records_verb_resource_namespace_name_and_code(
        fake_apiserver):
    api = fake_apiserver
    api.clear_access_log()
    api.create(ingress("web"))
    api.request("GET", f"{ING_DEFAULT}/nope")
    obj = api.get(f"{ING_DEFAULT}/web")
    api.put(obj, subresource="status")
    with api.watch(f"{ING}/ingresses", timeoutSeconds="1") as w:
        while w.next(timeout=3) is not None:
            pass
    api.request("GET", ING_DEFAULT, token="bad")
    got = [(e["verb"], e["resource"], e["namespace"], e["name"], e["code"])
           for e in api.access_log()]
    assert got == [("create", "ingresses", "default", "", 201),
                   ("get", "ingresses", "default", "nope", 404),
                   ("get", "ingresses", "default", "web", 200),
                   ("update", "ingresses/status", "default", "web", 200),
                   ("watch", "ingresses", "", "", 200),
                   ("list", "ingresses", "default", "", 401)]
    lines = open(os.path.join(api.workdir, "access.jsonl")).read().splitlines()
    assert json.loads(lines[-1])["code"] == 401


# --- fault injection -----------------------------------------------------------

def test_fail_next_answers_500_then_recovers(fake_apiserver):
    api = fake_apiserver
    api.fail_next(2, 500, path_prefix=ING)
    assert api.request("GET", "/api/v1/services")[0] == 200   # not matched
    status, body = api.request("GET", ING_DEFAULT)
    assert status == 500 and body["reason"] == "InternalError"
    assert api.request("GET", ING_DEFAULT)[0] == 500
    assert api.request("GET", ING_DEFAULT)[0] == 200


def test_fail_next_429_carries_retry_after(fake_apiserver):
    api = fake_apiserver
    api.fail_next(1, 429, retry_after=3)
    status, headers, body = api.request("GET", ING_DEFAULT, raw=True)
    assert status == 429
    assert headers["Retry-After"] == "3"
    st = json.loads(body)
    assert st["reason"] == "TooManyRequests"
    assert st["details"]["retryAfterSeconds"] == 3
    assert api.request("GET", ING_DEFAULT)[0] == 200


def test_fail_rules_match_method_and_prefix_and_503_says_retry(
        fake_apiserver):
    api = fake_apiserver
    api.fail_next(1, 503, path_prefix=ING, method="PUT", retry_after=2)
    assert api.request("GET", ING_DEFAULT)[0] == 200
    obj = api.create(ingress("web"))
    status, headers, body = api.request("PUT", f"{ING_DEFAULT}/web", obj,
                                        raw=True)
    assert status == 503 and headers["Retry-After"] == "2"
    assert json.loads(body)["reason"] == "ServiceUnavailable"
    assert api.request("PUT", f"{ING_DEFAULT}/web", obj)[0] == 200


def test_delay_slows_every_response(fake_apiserver):
    api = fake_apiserver
    injected = 0.6
    api.delay(injected)
    t0 = time.monotonic()
    assert api.request("GET", ING_DEFAULT)[0] == 200
    assert time.monotonic() - t0 >= injected
    api.delay(0)
    t0 = time.monotonic()
    api.request("GET", ING_DEFAULT)
    assert time.monotonic() - t0 < injected


def test_restart_can_drop_every_object(fake_apiserver):
    api = fake_apiserver
    before = rv(api.create(ingress("web")))
    api.restart(lose_history=True, keep_objects=False)
    lst = api.get(ING_DEFAULT)
    assert lst["items"] == []
    assert int(lst["metadata"]["resourceVersion"]) > before
    assert api.get("/api/v1/namespaces/default")["metadata"]["name"] == \
        "default"


# --- the process itself --------------------------------------------------------

def test_refuses_to_listen_outside_loopback():
    p = subprocess.run([str(KUBE_APISERVER), "--listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "loopback" in p.stderr


def test_exits_by_itself_after_max_lifetime():
    p = subprocess.Popen([str(KUBE_APISERVER), "--listen", "127.0.0.1:0",
                          "--max-lifetime", "0.5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.wait(timeout=5) == 0
    finally:
        p.kill()
        p.wait()


def test_exits_when_its_parent_dies():
    port = testbed.free_port()
    # The shell starts the server in the background, waits until it is
    # listening, and exits.
    out = subprocess.run(
        ["/bin/sh", "-c", f'"{KUBE_APISERVER}" --listen 127.0.0.1:{port} '
                          '--quiet --max-lifetime 20 >/dev/null 2>&1 & echo $!; '
                          f'for i in $(seq 50); do sleep 0.1; '
                          f'"{sys.executable}" -c "import socket; '
                          f'socket.create_connection((\'127.0.0.1\', {port}))"'
                          ' 2>/dev/null && echo up && break; done'],
        capture_output=True, text=True, timeout=20)
    pid = int(out.stdout.split()[0])
    assert "up" in out.stdout.split(), "server never listened"
    deadline = time.monotonic() + 5
    state = "?"
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return                       # gone and reaped
        if state in ("Z", "X"):
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail(f"server pid {pid} outlived its parent (state {state})")


# --- kubectl v1.32 against the fake ----------------------------------------------

INGRESS_YAML = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  labels: {app: web}
spec:
  ingressClassName: portico
  rules:
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: PORT}}}
"""


def ok(p):
    assert p.returncode == 0, f"kubectl failed: {p.stderr}"
    return p.stdout


def test_kubectl_create_and_get_json(fake_apiserver, tmp_path):
    api = fake_apiserver
    f = tmp_path / "ing.yaml"
    f.write_text(INGRESS_YAML.replace("PORT", "80"))
    assert "ingress.networking.k8s.io/web created" in \
        ok(api.kubectl("create", "-f", str(f)))
    obj = json.loads(ok(api.kubectl("get", "ingress", "web", "-o", "json")))
    assert obj["spec"]["rules"][0]["host"] == "web.example.com"
    lst = json.loads(ok(api.kubectl("get", "ingresses", "-A", "-o", "json")))
    assert [i["metadata"]["name"] for i in lst["items"]] == ["web"]
    p = api.kubectl("create", "-f", str(f))
    assert p.returncode != 0 and "AlreadyExists" in p.stderr


def test_kubectl_apply_twice_updates_the_object(fake_apiserver, tmp_path):
    api = fake_apiserver
    f = tmp_path / "ing.yaml"
    f.write_text(INGRESS_YAML.replace("PORT", "80"))
    assert "created" in ok(api.kubectl("apply", "-f", str(f)))
    f.write_text(INGRESS_YAML.replace("PORT", "8080"))
    assert "configured" in ok(api.kubectl("apply", "-f", str(f)))
    obj = api.get(f"{ING_DEFAULT}/web")
    assert obj["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"]["port"]["number"] == 8080
    assert obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in \
        obj["metadata"]["annotations"]
    patches = [e for e in api.access_log() if e["verb"] == "patch"]
    assert patches and patches[-1]["code"] == 200


SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  ports:
PORTS
"""


def test_kubectl_apply_of_a_service_merges_ports_by_port(fake_apiserver,
                                                         tmp_path):
    api = fake_apiserver
    f = tmp_path / "svc.yaml"
    f.write_text(SERVICE_YAML.replace("PORTS", "  - {name: http, port: 80}\n"
                                      "  - {name: https, port: 443}"))
    ok(api.kubectl("apply", "-f", str(f)))
    first = api.get("/api/v1/namespaces/default/services/web")
    node_ports = {p["port"]: p["nodePort"] for p in first["spec"]["ports"]}
    assert all(30000 <= n <= 32767 for n in node_ports.values())
    f.write_text(SERVICE_YAML.replace("PORTS", "  - {name: https, port: 443}"
                                      "\n  - {name: metrics, port: 9000}"))
    ok(api.kubectl("apply", "-f", str(f)))
    svc = api.get("/api/v1/namespaces/default/services/web")
    ports = svc["spec"]["ports"]
    assert [p["port"] for p in ports] == [443, 9000]  # $setElementOrder
    assert ports[0]["nodePort"] == node_ports[443]     # merged, not replaced
    assert svc["spec"]["clusterIP"] == first["spec"]["clusterIP"]


DNSENDPOINT_YAML = """\
apiVersion: externaldns.k8s.io/v1alpha1
kind: DNSEndpoint
metadata: {name: d}
spec:
  endpoints:
  - {dnsName: a.example.com, recordType: A, targets: [TARGET]}
"""


def test_kubectl_apply_of_the_crd_uses_a_json_merge_patch(fake_apiserver,
                                                          tmp_path):
    api = fake_apiserver
    f = tmp_path / "d.yaml"
    f.write_text(DNSENDPOINT_YAML.replace("TARGET", "192.0.2.1"))
    ok(api.kubectl("apply", "-f", str(f)))
    f.write_text(DNSENDPOINT_YAML.replace("TARGET", "192.0.2.2"))
    ok(api.kubectl("apply", "-f", str(f)))
    d = api.get(kind_path("DNSEndpoint", name="d"))
    assert d["spec"]["endpoints"][0]["targets"] == ["192.0.2.2"]
    assert d["metadata"]["generation"] == 2
    patches = [e for e in api.access_log() if e["verb"] == "patch"]
    assert [p["content_type"] for p in patches] == [MERGE]


def test_kubectl_label_annotate_patch_status_and_delete(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("web"))
    ok(api.kubectl("label", "ingress", "web", "ssl=true"))
    ok(api.kubectl("annotate", "ingress", "web", "portico.io/note=hi"))
    ok(api.kubectl("patch", "ingress", "web", "--subresource=status",
                   "--type=merge", "-p", json.dumps({"status": {
                       "loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}})))
    obj = api.get(f"{ING_DEFAULT}/web")
    assert obj["metadata"]["labels"] == {"ssl": "true"}
    assert obj["metadata"]["annotations"] == {"portico.io/note": "hi"}
    assert obj["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.7"}]
    assert obj["metadata"]["generation"] == 1
    assert 'ingress.networking.k8s.io "web" deleted' in \
        ok(api.kubectl("delete", "ingress", "web"))
    assert api.request("GET", f"{ING_DEFAULT}/web")[0] == 404


def test_kubectl_rejects_unknown_fields_through_strict_validation(
        fake_apiserver, tmp_path):
    f = tmp_path / "ing.yaml"
    f.write_text(INGRESS_YAML.replace("PORT", "80").replace(
        "  ingressClassName", "  ingressClassNam"))
    p = fake_apiserver.kubectl("create", "-f", str(f))
    assert p.returncode != 0
    assert 'unknown field "spec.ingressClassNam"' in p.stderr


def test_kubectl_server_side_apply_creates_then_updates(fake_apiserver,
                                                        tmp_path):
    api = fake_apiserver
    f = tmp_path / "ing.yaml"
    f.write_text(INGRESS_YAML.replace("PORT", "80"))
    ok(api.kubectl("apply", "--server-side", "-f", str(f)))
    f.write_text(INGRESS_YAML.replace("PORT", "81"))
    ok(api.kubectl("apply", "--server-side", "-f", str(f)))
    obj = api.get(f"{ING_DEFAULT}/web")
    assert obj["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"]["port"]["number"] == 81


def test_kubectl_get_watch_prints_an_event_as_it_happens(fake_apiserver):
    api = fake_apiserver
    api.create(ingress("first"))
    k = api.kubectl_popen("get", "ingresses", "--watch", "-o", "name",
                          "--request-timeout=0")
    try:
        assert k.line(timeout=15) == "ingress.networking.k8s.io/first"
        api.wait_watches(1, timeout=10)
        api.create(ingress("second"))
        assert k.line(timeout=10) == "ingress.networking.k8s.io/second"
    finally:
        k.stop()


def test_kubectl_over_plain_http_without_a_token(fake_apiserver_factory):
    # client-go never sends a bearer token over http, so plain http is only
    # usable without --token.
    api = fake_apiserver_factory(tls=False, token=None)
    assert api.url.startswith("http://")
    api.create(ingress("web"))
    out = ok(api.kubectl("get", "ingress", "web", "-o",
                         "jsonpath={.metadata.name}"))
    assert out == "web"


def test_kubectl_sees_forbidden_and_unauthorized(fake_apiserver_factory):
    api = fake_apiserver_factory(allow=["list ingresses"])
    p = api.kubectl("get", "secrets")
    assert p.returncode != 0 and "forbidden" in p.stderr.lower()
    api.token = "wrong"
    api._write_kubeconfig()
    p = api.kubectl("get", "ingresses")
    assert p.returncode != 0 and "unauthorized" in p.stderr.lower()
