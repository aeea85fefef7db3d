"""The resource types the fake kube-apiserver serves, described the way the
real server's discovery documents describe them (group, version, kind,
plural, scope, subresources, verbs), plus the per-type strategy knobs the
real registry strategies have (status subresource, generation tracking,
create-on-update, unconditional update, extra field selectors)."""

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch",
             "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]


class Resource:
    """One served resource type (e.g. networking.k8s.io/v1 ingresses)."""

    def __init__(self, group, version, kind, plural, namespaced, *,
                 status=False, generation=None, short_names=(),
                 create_on_update=False, unconditional_update=True,
                 crd=False, field_selectors=(), categories=(),
                 return_deleted=False):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = kind.lower()
        self.namespaced = namespaced
        self.status = status
        # None: generation is not tracked for this type.  "all-but-meta":
        # any change outside metadata/status bumps it (custom resources).
        # A list of top-level fields: a change in one of them bumps it.
        self.generation = generation
        self.short_names = list(short_names)
        self.create_on_update = create_on_update
        self.unconditional_update = unconditional_update
        self.crd = crd
        self.field_selectors = ["metadata.name", "metadata.namespace"] + \
            list(field_selectors)
        self.categories = list(categories)
        # Store.ReturnDeletedObject: DELETE answers the object instead of a
        # Status{Success} (services, namespaces, custom resources).
        self.return_deleted = return_deleted or crd

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        """GroupResource.String(): "ingresses.networking.k8s.io" or "services"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self):
        """GroupKind.String(): "Ingress.networking.k8s.io" or "Service"."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def key(self):
        return (self.group, self.plural)


RESOURCES = [
    Resource("", "v1", "Namespace", "namespaces", False, status=True,
             short_names=["ns"], return_deleted=True),
    Resource("", "v1", "Service", "services", True, status=True,
             short_names=["svc"], create_on_update=True,
             field_selectors=["spec.clusterIP", "spec.type"],
             categories=["all"], return_deleted=True),
    Resource("", "v1", "Secret", "secrets", True, field_selectors=["type"]),
    # The field selectors are pod's ToSelectableFields (pkg/registry/core/
    # pod/strategy.go).
    Resource("", "v1", "Pod", "pods", True, status=True, short_names=["po"],
             categories=["all"],
             field_selectors=["spec.nodeName", "spec.restartPolicy",
                              "spec.schedulerName", "spec.serviceAccountName",
                              "spec.hostNetwork", "status.phase",
                              "status.podIP", "status.podIPs",
                              "status.nominatedNodeName"]),
    Resource("", "v1", "Event", "events", True, short_names=["ev"],
             create_on_update=True,
             field_selectors=["involvedObject.kind", "involvedObject.namespace",
                              "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion",
                              "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason",
                              "reportingComponent", "source", "type"]),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True,
             status=True, generation=["spec"], short_names=["ing"]),
    Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses",
             False, generation=["spec"]),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True,
             generation=["addressType", "endpoints", "ports"]),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("externaldns.k8s.io", "v1alpha1", "DNSEndpoint", "dnsendpoints",
             True, status=True, generation="all-but-meta", crd=True,
             unconditional_update=False),
]

BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
CRDS = {r.qualified: r for r in RESOURCES if r.crd}


def lookup(group, version, plural):
    return BY_PATH.get((group, version, plural))


def _served(r, removed):
    """removed: the keys of the CRDs not installed (their types are not
    served at all, as when the CustomResourceDefinition is deleted)."""
    return not removed or r.key() not in removed


def group_versions(removed=()):
    """Ordered list of (group, version) pairs served under /apis."""
    seen = []
    for r in RESOURCES:
        if r.group and (r.group, r.version) not in seen and \
                _served(r, removed):
            seen.append((r.group, r.version))
    return seen


def api_resource_list(group, version, removed=()):
    """The APIResourceList document for /api/v1 or /apis/<group>/<version>."""
    items = []
    for r in RESOURCES:
        if r.group != group or r.version != version or \
                not _served(r, removed):
            continue
        entry = {"name": r.plural, "singularName": r.singular,
                 "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": ALL_VERBS}
        if r.short_names:
            entry["shortNames"] = r.short_names
        if r.categories:
            entry["categories"] = r.categories
        items.append(entry)
        if r.status:
            items.append({"name": r.plural + "/status", "singularName": "",
                          "namespaced": r.namespaced, "kind": r.kind,
                          "verbs": STATUS_VERBS})
    if not items:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": gv, "resources": items}


def api_group_list(removed=()):
    groups = []
    for group, version in group_versions(removed):
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv],
                       "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group, removed=()):
    for g in api_group_list(removed)["groups"]:
        if g["name"] == group:
            return dict(g, kind="APIGroup", apiVersion="v1")
    return None


def _gv_path(group, version):
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(removed=()):
    """/openapi/v3: one entry per served group-version."""
    gvs = [("", "v1")] + group_versions(removed)
    return {"paths": {_gv_path(g, v): {
        "serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={_gv_hash(g, v)}"}
        for g, v in gvs}}


def _gv_hash(group, version):
    import hashlib
    return hashlib.sha512(f"{group}/{version}".encode()).hexdigest()[:128].upper()


def openapi_v3_group_version(group, version, removed=()):
    """A minimal OpenAPI v3 document for one group-version: the paths with
    their operations, each operation carrying x-kubernetes-group-version-kind
    and the query parameters (dryRun, fieldManager, fieldValidation) that
    kubectl looks for to decide on server-side field validation.  It has no
    schemas, so kubectl's client-side strategic-merge computation falls
    back to its compiled-in types."""
    paths = {}
    query = [{"name": n, "in": "query", "schema": {"type": "string"},
              "uniqueItems": True}
             for n in ("dryRun", "fieldManager", "fieldValidation")]
    ok = {"200": {"description": "OK"}}
    for r in RESOURCES:
        if r.group != group or r.version != version or \
                not _served(r, removed):
            continue
        gvk = {"group": group, "version": version, "kind": r.kind}
        base = "/" + _gv_path(group, version)
        if r.namespaced:
            base += "/namespaces/{namespace}"
        coll, item = f"{base}/{r.plural}", f"{base}/{r.plural}/{{name}}"

        def op(action, params=()):
            return {"x-kubernetes-action": action,
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": list(params), "responses": ok}
        paths[coll] = {"get": op("list"), "post": op("post", query)}
        paths[item] = {"get": op("get"), "put": op("put", query),
                       "patch": op("patch", query), "delete": op("delete")}
        if r.status:
            paths[item + "/status"] = {"get": op("get"),
                                       "put": op("put", query),
                                       "patch": op("patch", query)}
    if not paths:
        return None
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0-fake"},
            "paths": paths, "components": {"schemas": {}}}
