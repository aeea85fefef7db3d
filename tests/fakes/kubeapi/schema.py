"""The fields of each served type, with their JSON types, so bodies are
decoded as the real server decodes them:

- a value of the wrong JSON type is a 400 for built-in types (Go's
  "json: cannot unmarshal string into Go struct field ..." inside
  "<Kind> in version "v1" cannot be handled as a <Kind>: ...") and a 422 for
  the CRD (OpenAPI schema validation: "... in body must be of type ...");
- an unknown field is dropped (built-in types are decoded into Go structs,
  the CRD has a structural schema that prunes).  With ?fieldValidation=Strict
  (what kubectl sends) it is a 400; with Warn (the server default) it is
  dropped and reported in a "Warning: 299 - ..." header; with Ignore it is
  dropped silently (apiserver pkg/endpoints/handlers, KEP-2885).

A schema is one of the leaf types below, Obj(go_name, {field: schema}),
List(schema) or Map(schema) (free keys, typed values)."""


import re


class Leaf:
    def __init__(self, go, json_types, time_layout=None):
        self.go, self.json_types = go, json_types
        self.time_layout = time_layout     # "rfc3339" or "micro" (Go layouts)

    def accepts(self, v):
        return any(_is(v, t) for t in self.json_types)


class Obj:
    def __init__(self, go, fields):
        self.go, self.fields = go, fields


class List:
    def __init__(self, item):
        self.item = item
        self.go = "[]" + item.go


class Map:
    def __init__(self, value):
        self.value = value
        self.go = "map[string]" + value.go


def _is(v, t):
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    return True          # "any"


STR = Leaf("string", ["string"])
INT = Leaf("int32", ["integer"])
INT64 = Leaf("int64", ["integer"])
BOOL = Leaf("bool", ["boolean"])
INT_OR_STR = Leaf("intstr.IntOrString", ["integer", "string"])
ANY = Leaf("interface {}", ["any"])
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
TIME = Leaf("v1.Time", ["string"], "rfc3339")
MICROTIME = Leaf("v1.MicroTime", ["string"], "micro")
MAPSTR = Map(STR)
STRS = List(STR)

OWNER_REF = Obj("v1.OwnerReference", {
    "apiVersion": STR, "kind": STR, "name": STR, "uid": STR,
    "controller": BOOL, "blockOwnerDeletion": BOOL})
OBJECT_META = Obj("v1.ObjectMeta", {
    "name": STR, "generateName": STR, "namespace": STR, "selfLink": STR,
    "uid": STR, "resourceVersion": STR, "generation": INT64,
    "creationTimestamp": TIME,
    "deletionTimestamp": TIME, "deletionGracePeriodSeconds": INT64,
    "labels": MAPSTR, "annotations": MAPSTR,
    "ownerReferences": List(OWNER_REF), "finalizers": STRS,
    "managedFields": List(ANY)})
OBJECT_REF = Obj("v1.ObjectReference", {
    "kind": STR, "namespace": STR, "name": STR, "uid": STR,
    "apiVersion": STR, "resourceVersion": STR, "fieldPath": STR})
TYPED_REF = Obj("v1.TypedLocalObjectReference", {
    "apiGroup": STR, "kind": STR, "name": STR})
INGRESS_BACKEND = Obj("v1.IngressBackend", {
    "service": Obj("v1.IngressServiceBackend", {
        "name": STR, "port": Obj("v1.ServiceBackendPort", {
            "name": STR, "number": INT})}),
    "resource": TYPED_REF})
LB_STATUS = Obj("v1.LoadBalancerStatus", {"ingress": List(Obj(
    "v1.LoadBalancerIngress", {
        "ip": STR, "hostname": STR, "ipMode": STR,
        "ports": List(Obj("v1.PortStatus", {
            "port": INT, "protocol": STR, "error": STR}))}))})
CONDITIONS = List(Obj("v1.Condition", {
    "type": STR, "status": STR, "observedGeneration": INT64,
    "lastTransitionTime": TIME, "reason": STR, "message": STR}))

KIND_FIELDS = {
    "Ingress": {
        "spec": Obj("v1.IngressSpec", {
            "ingressClassName": STR, "defaultBackend": INGRESS_BACKEND,
            "tls": List(Obj("v1.IngressTLS", {"hosts": STRS,
                                              "secretName": STR})),
            "rules": List(Obj("v1.IngressRule", {
                "host": STR, "http": Obj("v1.HTTPIngressRuleValue", {
                    "paths": List(Obj("v1.HTTPIngressPath", {
                        "path": STR, "pathType": STR,
                        "backend": INGRESS_BACKEND}))})}))}),
        "status": Obj("v1.IngressStatus", {
            "loadBalancer": Obj("v1.IngressLoadBalancerStatus",
                                LB_STATUS.fields)}),
    },
    "IngressClass": {
        "spec": Obj("v1.IngressClassSpec", {
            "controller": STR, "parameters": Obj(
                "v1.IngressClassParametersReference", {
                    "apiGroup": STR, "kind": STR, "name": STR, "scope": STR,
                    "namespace": STR})}),
    },
    "Service": {
        "spec": Obj("v1.ServiceSpec", {
            "ports": List(Obj("v1.ServicePort", {
                "name": STR, "protocol": STR, "appProtocol": STR,
                "port": INT, "targetPort": INT_OR_STR, "nodePort": INT})),
            "selector": MAPSTR, "clusterIP": STR, "clusterIPs": STRS,
            "type": STR, "externalIPs": STRS, "sessionAffinity": STR,
            "loadBalancerIP": STR, "loadBalancerSourceRanges": STRS,
            "externalName": STR, "externalTrafficPolicy": STR,
            "healthCheckNodePort": INT, "publishNotReadyAddresses": BOOL,
            "sessionAffinityConfig": ANY, "ipFamilies": STRS,
            "ipFamilyPolicy": STR, "allocateLoadBalancerNodePorts": BOOL,
            "loadBalancerClass": STR, "internalTrafficPolicy": STR,
            "trafficDistribution": STR}),
        "status": Obj("v1.ServiceStatus", {"loadBalancer": LB_STATUS,
                                           "conditions": CONDITIONS}),
    },
    # A Pod's fields that the tests and the controller read; the rest of a
    # container is kept as is (ANY).
    "Pod": {
        "spec": Obj("v1.PodSpec", {
            "containers": List(Obj("v1.Container", {
                "name": STR, "image": STR, "command": STRS, "args": STRS,
                "ports": List(ANY), "env": List(ANY),
                "resources": ANY, "securityContext": ANY,
                "readinessProbe": ANY, "livenessProbe": ANY})),
            "nodeName": STR, "restartPolicy": STR, "schedulerName": STR,
            "serviceAccountName": STR, "hostNetwork": BOOL,
            "terminationGracePeriodSeconds": INT64}),
        "status": Obj("v1.PodStatus", {
            "phase": STR, "conditions": List(Obj("v1.PodCondition", {
                "type": STR, "status": STR, "lastProbeTime": TIME,
                "lastTransitionTime": TIME, "reason": STR,
                "message": STR})),
            "podIP": STR, "podIPs": List(Obj("v1.PodIP", {"ip": STR})),
            "hostIP": STR, "startTime": TIME, "nominatedNodeName": STR,
            "containerStatuses": List(ANY)}),
    },
    "Secret": {"data": MAPSTR, "stringData": MAPSTR, "type": STR,
               "immutable": BOOL},
    "Event": {"involvedObject": OBJECT_REF, "reason": STR, "message": STR,
              "source": Obj("v1.EventSource", {"component": STR,
                                               "host": STR}),
              "firstTimestamp": TIME, "lastTimestamp": TIME,
              "count": INT, "type": STR, "eventTime": MICROTIME,
              "series": ANY, "action": STR, "related": OBJECT_REF,
              "reportingComponent": STR, "reportingInstance": STR},
    "Namespace": {"spec": Obj("v1.NamespaceSpec", {"finalizers": STRS}),
                  "status": Obj("v1.NamespaceStatus", {
                      "phase": STR, "conditions": List(ANY)})},
    "EndpointSlice": {
        "addressType": STR,
        "endpoints": List(Obj("v1.Endpoint", {
            "addresses": STRS, "conditions": Obj("v1.EndpointConditions", {
                "ready": BOOL, "serving": BOOL, "terminating": BOOL}),
            "hostname": STR, "targetRef": OBJECT_REF,
            "deprecatedTopology": MAPSTR, "nodeName": STR, "zone": STR,
            "hints": ANY})),
        "ports": List(Obj("v1.EndpointPort", {
            "name": STR, "protocol": STR, "port": INT, "appProtocol": STR})),
    },
    "Lease": {"spec": Obj("v1.LeaseSpec", {
        "holderIdentity": STR, "leaseDurationSeconds": INT,
        "acquireTime": MICROTIME, "renewTime": MICROTIME,
        "leaseTransitions": INT, "strategy": STR, "preferredHolder": STR})},
    "DNSEndpoint": {
        "spec": Obj("v1alpha1.DNSEndpointSpec", {
            "endpoints": List(Obj("endpoint.Endpoint", {
                "dnsName": STR, "targets": STRS, "recordType": STR,
                "setIdentifier": STR, "recordTTL": INT64, "labels": MAPSTR,
                "providerSpecific": List(Obj("endpoint.ProviderSpecific", {
                    "name": STR, "value": STR}))}))}),
        "status": Obj("v1alpha1.DNSEndpointStatus",
                      {"observedGeneration": INT64}),
    },
}


def schema_for(kind):
    fields = {"apiVersion": STR, "kind": STR, "metadata": OBJECT_META}
    fields.update(KIND_FIELDS.get(kind, {}))
    return Obj(f"v1.{kind}", fields)


class TimeError(Exception):
    """A timestamp Go's time.Parse rejects (message as Go words it)."""


_DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")
_ZONE = re.compile(r"^(Z|[+-]\d\d:\d\d)$")


def check_time(value, layout):
    """Go's time.Parse(RFC3339 or RFC3339Micro): RFC3339 takes an optional
    fraction of any length; the micro layout wants exactly 6 digits."""
    go_layout = RFC3339_MICRO if layout == "micro" else RFC3339

    def fail(rest, elem):
        raise TimeError(f'parsing time "{value}" as "{go_layout}": cannot '
                        f'parse "{rest}" as "{elem}"')
    m = _DATE.match(value)
    if not m:
        fail(value, "2006")
    rest = value[m.end():]
    if layout == "micro":
        if len(rest) < 7 or rest[0] not in ".," or not rest[1:7].isdigit():
            fail(rest, ".000000")
        rest = rest[7:]
    else:
        fm = re.match(r"^[.,]\d+", rest)
        if fm:
            rest = rest[fm.end():]
    if not _ZONE.match(rest):
        fail(rest, "Z07:00")


def normalize_time(value, layout):
    """How the server writes a parsed time back: UTC, whole seconds for
    metav1.Time, microseconds for MicroTime."""
    import datetime
    text = value.replace(",", ".")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    m = re.match(r"^(.{19})(\.\d+)?(.*)$", text)
    frac = (m.group(2) or ".0")[1:]
    micros = int((frac + "000000")[:6])
    t = datetime.datetime.fromisoformat(m.group(1) + m.group(3))
    t = t.astimezone(datetime.timezone.utc).replace(microsecond=micros)
    if layout == "micro":
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class TypeMismatch(Exception):
    """A value of the wrong JSON type at path (dotted, with indices)."""

    def __init__(self, path, go_struct, go_field_path, go_type, value,
                 want):
        super().__init__(path)
        self.path, self.go_struct, self.go_field_path = \
            path, go_struct, go_field_path
        self.go_type, self.value, self.want = go_type, value, want


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def openapi_type(v):
    """The type name OpenAPI validation reports for a value."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    return {"number": "number", "string": "string", "array": "array",
            "object": "object", "null": "null"}[json_type(v)]


def _want(schema):
    if isinstance(schema, Obj):
        return "object"
    if isinstance(schema, List):
        return "array"
    if isinstance(schema, Map):
        return "object"
    return {"string": "string", "integer": "integer",
            "boolean": "boolean"}.get(schema.json_types[0], "any")


def decode(kind, obj):
    """Check JSON types and drop unknown fields in place.  Returns the
    unknown field paths in document order; raises TypeMismatch."""
    unknown = []
    _walk(schema_for(kind), obj, "", "", kind, unknown)
    return unknown


def _walk(schema, value, path, gopath, gostruct, unknown):
    if value is None:
        return                          # null decodes to the zero value
    if isinstance(schema, Leaf):
        if not schema.accepts(value):
            raise TypeMismatch(path, gostruct, gopath, schema.go, value,
                               _want(schema))
        if schema.time_layout:
            check_time(value, schema.time_layout)
        return
    if isinstance(schema, List):
        if not isinstance(value, list):
            raise TypeMismatch(path, gostruct, gopath, schema.go, value,
                               "array")
        for i, item in enumerate(value):
            if item is None and isinstance(schema.item, (Obj, Map)):
                value[i] = item = {}          # null decodes to a zero struct
            _walk(schema.item, item, f"{path}[{i}]", gopath, gostruct,
                  unknown)
        return
    if not isinstance(value, dict):
        raise TypeMismatch(path, gostruct, gopath, schema.go, value,
                           "object")
    if isinstance(schema, Map):
        for k, v in value.items():
            if v is None and schema.value is STR:
                value[k] = v = ""             # null decodes to ""
            _walk(schema.value, v, f"{path}[{k}]" if path else k, gopath,
                  gostruct, unknown)
        return
    for key in list(value):
        sub = f"{path}.{key}" if path else key
        gosub = f"{gopath}.{key}" if gopath else key
        if key not in schema.fields:
            unknown.append(sub)
            del value[key]
            continue
        if value[key] is None:
            del value[key]                    # zero value, omitted on output
            continue
        # Go names the struct that holds the field, then the full path.
        child = schema.fields[key]
        _walk(child, value[key], sub, gosub, schema.go.split(".")[-1],
              unknown)
        if isinstance(child, Leaf) and child.time_layout:
            value[key] = normalize_time(value[key], child.time_layout)
