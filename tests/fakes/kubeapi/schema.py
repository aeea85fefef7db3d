"""The known fields of each served type, so unknown fields are handled as the
real server handles them: built-in types are decoded into Go structs (an
unknown field is dropped) and the CRD has a structural schema (an unknown
field is pruned).  With ?fieldValidation=Strict (what kubectl sends) an
unknown field is a 400; with Warn (the server default) it is dropped and
reported in a "Warning: 299 - ..." header; with Ignore it is dropped
silently (apiserver pkg/endpoints/handlers, KEP-2885).

A schema is a dict of field -> sub-schema; ANY accepts any value (maps with
free keys such as labels, Secret data, or fields not modelled further); a
one-element list [s] is a list whose items follow s."""

ANY = None

OWNER_REF = {"apiVersion": ANY, "kind": ANY, "name": ANY, "uid": ANY,
             "controller": ANY, "blockOwnerDeletion": ANY}
OBJECT_META = {
    "name": ANY, "generateName": ANY, "namespace": ANY, "selfLink": ANY,
    "uid": ANY, "resourceVersion": ANY, "generation": ANY,
    "creationTimestamp": ANY, "deletionTimestamp": ANY,
    "deletionGracePeriodSeconds": ANY, "labels": ANY, "annotations": ANY,
    "ownerReferences": [OWNER_REF], "finalizers": ANY, "managedFields": ANY,
}
TYPED_REF = {"apiGroup": ANY, "kind": ANY, "name": ANY}
INGRESS_BACKEND = {"service": {"name": ANY, "port": {"name": ANY,
                                                     "number": ANY}},
                   "resource": TYPED_REF}
LB_STATUS = {"ingress": [{"ip": ANY, "hostname": ANY, "ipMode": ANY,
                          "ports": [{"port": ANY, "protocol": ANY,
                                     "error": ANY}]}]}
CONDITIONS = [{"type": ANY, "status": ANY, "observedGeneration": ANY,
               "lastTransitionTime": ANY, "reason": ANY, "message": ANY}]

KIND_FIELDS = {
    "Ingress": {
        "spec": {"ingressClassName": ANY, "defaultBackend": INGRESS_BACKEND,
                 "tls": [{"hosts": ANY, "secretName": ANY}],
                 "rules": [{"host": ANY, "http": {"paths": [{
                     "path": ANY, "pathType": ANY,
                     "backend": INGRESS_BACKEND}]}}]},
        "status": {"loadBalancer": LB_STATUS},
    },
    "IngressClass": {
        "spec": {"controller": ANY, "parameters": {
            "apiGroup": ANY, "kind": ANY, "name": ANY, "scope": ANY,
            "namespace": ANY}},
    },
    "Service": {
        "spec": {"ports": [{"name": ANY, "protocol": ANY, "appProtocol": ANY,
                            "port": ANY, "targetPort": ANY, "nodePort": ANY}],
                 "selector": ANY, "clusterIP": ANY, "clusterIPs": ANY,
                 "type": ANY, "externalIPs": ANY, "sessionAffinity": ANY,
                 "loadBalancerIP": ANY, "loadBalancerSourceRanges": ANY,
                 "externalName": ANY, "externalTrafficPolicy": ANY,
                 "healthCheckNodePort": ANY, "publishNotReadyAddresses": ANY,
                 "sessionAffinityConfig": ANY, "ipFamilies": ANY,
                 "ipFamilyPolicy": ANY, "allocateLoadBalancerNodePorts": ANY,
                 "loadBalancerClass": ANY, "internalTrafficPolicy": ANY,
                 "trafficDistribution": ANY},
        "status": {"loadBalancer": LB_STATUS, "conditions": CONDITIONS},
    },
    "Secret": {"data": ANY, "stringData": ANY, "type": ANY, "immutable": ANY},
    "Event": {"involvedObject": ANY, "reason": ANY, "message": ANY,
              "source": ANY, "firstTimestamp": ANY, "lastTimestamp": ANY,
              "count": ANY, "type": ANY, "eventTime": ANY, "series": ANY,
              "action": ANY, "related": ANY, "reportingComponent": ANY,
              "reportingInstance": ANY},
    "Namespace": {"spec": {"finalizers": ANY},
                  "status": {"phase": ANY, "conditions": ANY}},
    "EndpointSlice": {
        "addressType": ANY,
        "endpoints": [{"addresses": ANY, "conditions": {
            "ready": ANY, "serving": ANY, "terminating": ANY},
            "hostname": ANY, "targetRef": ANY, "deprecatedTopology": ANY,
            "nodeName": ANY, "zone": ANY, "hints": ANY}],
        "ports": [{"name": ANY, "protocol": ANY, "port": ANY,
                   "appProtocol": ANY}],
    },
    "Lease": {"spec": {"holderIdentity": ANY, "leaseDurationSeconds": ANY,
                       "acquireTime": ANY, "renewTime": ANY,
                       "leaseTransitions": ANY, "strategy": ANY,
                       "preferredHolder": ANY}},
    "DNSEndpoint": {
        "spec": {"endpoints": [{"dnsName": ANY, "targets": ANY,
                                "recordType": ANY, "setIdentifier": ANY,
                                "recordTTL": ANY, "labels": ANY,
                                "providerSpecific": [{"name": ANY,
                                                      "value": ANY}]}]},
        "status": {"observedGeneration": ANY},
    },
}


def schema_for(kind):
    s = {"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META}
    s.update(KIND_FIELDS.get(kind, {}))
    return s


def prune(kind, obj):
    """Drop unknown fields from obj in place; returns their paths in the
    order found (like the decoder's strict errors)."""
    unknown = []
    _prune(schema_for(kind), obj, "", unknown)
    return unknown


def _prune(schema, value, path, unknown):
    if schema is ANY:
        return
    if isinstance(schema, list):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _prune(schema[0], item, f"{path}[{i}]", unknown)
        return
    if not isinstance(value, dict):
        return
    for key in list(value):
        sub = f"{path}.{key}" if path else key
        if key not in schema:
            unknown.append(sub)
            del value[key]
        else:
            _prune(schema[key], value[key], sub, unknown)
