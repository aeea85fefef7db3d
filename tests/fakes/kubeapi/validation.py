"""Defaulting and validation of the served types, following the registry
strategies and pkg/apis/*/validation of kubernetes/kubernetes for the fields
the controller cares about.  Messages are the real ones (field.Error text,
apimachinery/pkg/util/validation messages).  Not every rule of the real
server is here; see tests/fakes/README.md."""

import base64
import binascii
import ipaddress
import re

from . import schema
from .errors import FieldError, bad_request, invalid

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
WILDCARD_SUBDOMAIN = r"\*\." + DNS1123_SUBDOMAIN

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case "
                 "alphanumeric characters, '-' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'example.com', regex "
                 "used for validation is '" + DNS1123_SUBDOMAIN + "')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case "
             "alphanumeric characters or '-', and must start and end with an "
             "alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
             "used for validation is '" + DNS1123_LABEL + "')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric "
               "characters or '-', start with an alphabetic character, and "
               "end with an alphanumeric character (e.g. 'my-name',  or "
               "'abc-123', regex used for validation is '" + DNS1035_LABEL +
               "')")
WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed "
                "by a valid DNS subdomain, which must consist of lower case "
                "alphanumeric characters, '-' or '.' and end with an "
                "alphanumeric character (e.g. '*.example.com', regex used for "
                "validation is '" + WILDCARD_SUBDOMAIN.replace("\\*", "\\*") +
                "')")
MAX_SUBDOMAIN = 253
MAX_LABEL = 63
MAX_PORT = 65535
MAX_PORT_NAME = 15
SERVICE_CIDR_BASE = int(ipaddress.ip_address("10.96.0.0"))
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
INVALID_PATH_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"]
INVALID_PATH_SUFFIXES = ["/..", "/."]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")


def is_subdomain(v):
    out = []
    if len(v) > MAX_SUBDOMAIN:
        out.append(f"must be no more than {MAX_SUBDOMAIN} characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN, v):
        out.append(SUBDOMAIN_MSG)
    return out


def is_label(v):
    out = []
    if len(v) > MAX_LABEL:
        out.append(f"must be no more than {MAX_LABEL} characters")
    if not re.fullmatch(DNS1123_LABEL, v):
        out.append(LABEL_MSG)
    return out


def is_dns1035(v):
    out = []
    if len(v) > MAX_LABEL:
        out.append(f"must be no more than {MAX_LABEL} characters")
    if not re.fullmatch(DNS1035_LABEL, v):
        out.append(DNS1035_MSG)
    return out


def is_wildcard(v):
    out = []
    if len(v) > MAX_SUBDOMAIN:
        out.append(f"must be no more than {MAX_SUBDOMAIN} characters")
    if not re.fullmatch(WILDCARD_SUBDOMAIN, v):
        out.append(WILDCARD_MSG)
    return out


def is_ip(v):
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


NAME_RULES = {"Namespace": is_label, "Service": is_dns1035}

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _qualified_name_errors(key):
    prefix, _, name = key.rpartition("/")
    out = []
    if prefix and is_subdomain(prefix):
        out.append("prefix part " + SUBDOMAIN_MSG)
    if not name or len(name) > MAX_LABEL or not _QUALIFIED_NAME.match(name):
        out.append("name part must consist of alphanumeric characters, '-', "
                   "'_' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                   "regex used for validation is "
                   "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return out


def check_types(res, obj):
    """Decoding as the real server does it: wrong JSON types are a 400 for
    built-in types (Go's json errors) and a 422 for the CRD (OpenAPI schema
    validation); unknown fields are dropped.  Secret data must be base64.
    Returns the dropped unknown field paths."""
    try:
        unknown = schema.decode(res.kind, obj)
    except schema.TimeError as e:
        raise bad_request(f'{res.kind} in version "{res.version}" cannot be '
                          f'handled as a {res.kind}: {e}')
    except schema.TypeMismatch as e:
        if res.crd:
            got = schema.openapi_type(e.value)
            raise invalid(res, (obj.get("metadata") or {}).get("name") or "",
                          [FieldError("Invalid", e.path, got,
                                      f"{e.path} in body must be of type "
                                      f"{e.want}: \"{got}\"")])
        raise bad_request(
            f'{res.kind} in version "{res.version}" cannot be handled as a '
            f'{res.kind}: json: cannot unmarshal {schema.json_type(e.value)} '
            f'into Go struct field {e.go_struct}.{e.go_field_path} of type '
            f'{e.go_type}')
    if res.kind == "Secret":
        for v in (obj.get("data") or {}).values():
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request(f'Secret in version "v1" cannot be handled '
                                  f'as a Secret: illegal base64 data at input '
                                  f'byte {_bad_b64_offset(v)}')
    return unknown


def _bad_b64_offset(v):
    for i, ch in enumerate(v):
        if not (ch.isalnum() or ch in "+/="):
            return i
    return len(v)


def validate_meta(res, obj):
    errs = []
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        errs.append(FieldError("Required", "metadata.name",
                               detail="name or generateName is required"))
    else:
        for msg in NAME_RULES.get(res.kind, is_subdomain)(name):
            errs.append(FieldError("Invalid", "metadata.name", name, msg))
    for k, v in (meta.get("labels") or {}).items():
        for msg in _qualified_name_errors(k):
            errs.append(FieldError("Invalid", "metadata.labels", k, msg))
        if len(v) > MAX_LABEL or not _LABEL_VALUE.match(v):
            errs.append(FieldError(
                "Invalid", "metadata.labels", v,
                "a valid label must be an empty string or consist of "
                "alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character (e.g. 'MyValue',  or "
                "'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
    for k in (meta.get("annotations") or {}):
        for msg in _qualified_name_errors(k):
            errs.append(FieldError("Invalid", "metadata.annotations", k,
                                   msg))
    return errs


# --- per-kind validation ---------------------------------------------------

def _host_errors(host, field):
    errs = []
    if is_ip(host):
        errs.append(FieldError("Invalid", field, host,
                               "must be a DNS name, not an IP address"))
    rule = is_wildcard if "*" in host else is_subdomain
    errs.extend(FieldError("Invalid", field, host, m) for m in rule(host))
    return errs


def _port_name_errors(name):
    out = []
    if len(name) > MAX_PORT_NAME:
        out.append(f"must be no more than {MAX_PORT_NAME} characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), "
                   "and hyphens (-)")
    if "--" in name:
        out.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        out.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def _port_number_errors(n):
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_PORT:
        return [f"must be between 1 and {MAX_PORT}, inclusive"]
    return []


def _ingress_backend(b, fld):
    if not isinstance(b, dict):
        return [FieldError("Invalid", fld, "",
                           "resource or service backend is required")]
    svc, resource = b.get("service"), b.get("resource")
    if svc is not None and resource is not None:
        return [FieldError("Invalid", fld, "",
                           "cannot set both resource and service backends")]
    if resource is not None:
        errs = []
        if not resource.get("kind"):
            errs.append(FieldError("Required", f"{fld}.resource.kind"))
        if not resource.get("name"):
            errs.append(FieldError("Required", f"{fld}.resource.name"))
        return errs
    if svc is None:
        return [FieldError("Invalid", fld, "",
                           "resource or service backend is required")]
    errs = []
    name = svc.get("name") or ""
    if not name:
        errs.append(FieldError("Required", f"{fld}.service.name"))
    else:
        errs.extend(FieldError("Invalid", f"{fld}.service.name", name, m)
                    for m in is_dns1035(name))
    port = svc.get("port") or {}
    pname, pnum = port.get("name") or "", port.get("number") or 0
    if pname and pnum:
        errs.append(FieldError("Invalid", fld, "",
                               "cannot set both port name & port number"))
    elif pname:
        errs.extend(FieldError("Invalid", f"{fld}.service.port.name", pname, m)
                    for m in _port_name_errors(pname))
    elif pnum:
        errs.extend(FieldError("Invalid", f"{fld}.service.port.number", pnum,
                               m) for m in _port_number_errors(pnum))
    else:
        errs.append(FieldError("Required", fld,
                               detail="port name or number is required"))
    return errs


def _ingress_path(p, fld):
    errs = []
    path_type = p.get("pathType")
    path = p.get("path") or ""
    if path_type is None:
        return [FieldError("Required", f"{fld}.pathType",
                           detail="pathType must be specified")]
    if path_type in ("Exact", "Prefix"):
        if not path.startswith("/"):
            errs.append(FieldError("Invalid", f"{fld}.path", path,
                                   "must be an absolute path"))
        for seq in INVALID_PATH_SEQUENCES if path else []:
            if seq in path:
                errs.append(FieldError("Invalid", f"{fld}.path", path,
                                       f"must not contain '{seq}'"))
        for suf in INVALID_PATH_SUFFIXES if path else []:
            if path.endswith(suf):
                errs.append(FieldError("Invalid", f"{fld}.path", path,
                                       f"cannot end with '{suf}'"))
    elif path_type == "ImplementationSpecific":
        if path and not path.startswith("/"):
            errs.append(FieldError("Invalid", f"{fld}.path", path,
                                   "must be an absolute path"))
    else:
        errs.append(FieldError("NotSupported", f"{fld}.pathType", path_type,
                               supported=PATH_TYPES))
    errs.extend(_ingress_backend(p.get("backend"), f"{fld}.backend"))
    return errs


def _validate_ingress(obj):
    spec = obj.get("spec") or {}
    errs = []
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        errs.append(FieldError("Invalid", "spec", "null",
                               "either `defaultBackend` or `rules` must be "
                               "specified"))
    if spec.get("defaultBackend") is not None:
        errs.extend(_ingress_backend(spec["defaultBackend"],
                                     "spec.defaultBackend"))
    for i, rule in enumerate(rules):
        fld = f"spec.rules[{i}]"
        host = rule.get("host") or ""
        if host:
            errs.extend(_host_errors(host, f"{fld}.host"))
        http = rule.get("http")
        if http is not None:
            paths = http.get("paths") or []
            if not paths:
                errs.append(FieldError("Required", f"{fld}.http.paths"))
            for j, p in enumerate(paths):
                errs.extend(_ingress_path(p, f"{fld}.http.paths[{j}]"))
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate(tls.get("hosts") or []):
            rule = is_wildcard if "*" in host else is_subdomain
            errs.extend(FieldError("Invalid", f"spec.tls[{i}].hosts[{j}]",
                                   host, m) for m in rule(host))
    cls = spec.get("ingressClassName")
    if cls is not None:
        errs.extend(FieldError("Invalid", "spec.ingressClassName", cls, m)
                    for m in is_subdomain(cls))
    return errs


def validate_ingress_status(obj):
    errs = []
    lb = ((obj.get("status") or {}).get("loadBalancer") or {})
    for i, ing in enumerate(lb.get("ingress") or []):
        fld = f"status.loadBalancer.ingress[{i}]"
        ip, hostname = ing.get("ip"), ing.get("hostname")
        if ip and not is_ip(ip):
            errs.append(FieldError("Invalid", f"{fld}.ip", ip,
                                   "must be a valid IP address"))
        if hostname:
            if is_ip(hostname):
                errs.append(FieldError("Invalid", f"{fld}.hostname", hostname,
                                       "must be a DNS name, not an IP "
                                       "address"))
            errs.extend(FieldError("Invalid", f"{fld}.hostname", hostname, m)
                        for m in is_subdomain(hostname))
    return errs


def _validate_service(obj):
    spec = obj.get("spec") or {}
    errs = []
    typ = spec.get("type", "ClusterIP")
    if typ not in SERVICE_TYPES:
        errs.append(FieldError("NotSupported", "spec.type", typ,
                               supported=SERVICE_TYPES))
    if typ == "ExternalName":
        if not spec.get("externalName"):
            errs.append(FieldError("Required", "spec.externalName"))
    elif not spec.get("ports") and spec.get("clusterIP") != "None":
        errs.append(FieldError("Required", "spec.ports"))
    for i, p in enumerate(spec.get("ports") or []):
        if "port" not in p:
            errs.append(FieldError("Required", f"spec.ports[{i}].port"))
        else:
            errs.extend(FieldError("Invalid", f"spec.ports[{i}].port",
                                   p["port"], m)
                        for m in _port_number_errors(p["port"]))
    return errs


def _validate_secret(obj):
    errs = []
    data = obj.get("data") or {}
    for k in data:
        if not SECRET_KEY_RE.match(k):
            errs.append(FieldError("Invalid", f"data[{k}]", k,
                                   "a valid config key must consist of "
                                   "alphanumeric characters, '-', '_' or '.'"
                                   " (e.g. 'key.name',  or 'KEY_NAME',  or "
                                   "'key-name', regex used for validation is "
                                   "'[-._a-zA-Z0-9]+')"))
    if obj.get("type") == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(FieldError("Required", f"data[{key}]"))
    return errs


def _validate_endpointslice(obj):
    errs = []
    at = obj.get("addressType")
    if not at:
        errs.append(FieldError("Required", "addressType"))
    elif at not in ADDRESS_TYPES:
        errs.append(FieldError("NotSupported", "addressType", at,
                               supported=ADDRESS_TYPES))
    for i, ep in enumerate(obj.get("endpoints") or []):
        addrs = ep.get("addresses") or []
        if not addrs:
            errs.append(FieldError("Required", f"endpoints[{i}].addresses",
                                   detail="must contain at least 1 address"))
        for j, a in enumerate(addrs):
            fld = f"endpoints[{i}].addresses[{j}]"
            if at == "IPv4" and not (is_ip(a) and ":" not in a):
                errs.append(FieldError("Invalid", fld, a,
                                       "must be a valid IPv4 address"))
            if at == "IPv6" and not (is_ip(a) and ":" in a):
                errs.append(FieldError("Invalid", fld, a,
                                       "must be a valid IPv6 address"))
    return errs


def _validate_lease(obj):
    spec = obj.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or d <= 0):
        return [FieldError("Invalid", "spec.leaseDurationSeconds", d,
                           "must be greater than 0")]
    return []


def _validate_dnsendpoint(obj):
    errs = []
    for i, ep in enumerate((obj.get("spec") or {}).get("endpoints") or []):
        ttl = ep.get("recordTTL")
        if ttl is not None and not isinstance(ttl, int):
            errs.append(FieldError("Invalid", f"spec.endpoints[{i}].recordTTL",
                                   ttl, "must be of type integer"))
    return errs


def _validate_pod(obj):
    """ValidatePodSpec's first rules: at least one container, each with a
    DNS-1123 label name and an image."""
    errs = []
    containers = (obj.get("spec") or {}).get("containers") or []
    if not containers:
        errs.append(FieldError("Required", "spec.containers"))
    for i, c in enumerate(containers):
        name = c.get("name")
        if not name:
            errs.append(FieldError("Required", f"spec.containers[{i}].name"))
        else:
            errs.extend(FieldError("Invalid", f"spec.containers[{i}].name",
                                   name, m) for m in is_label(name))
        if not c.get("image"):
            errs.append(FieldError("Required",
                                   f"spec.containers[{i}].image"))
    return errs


def _validate_event(obj):
    """legacyValidateEvent for core/v1 Events without eventTime: the
    involved object's namespace must be the event's (an empty one is fine
    only for events in "default")."""
    if obj.get("eventTime"):
        return []
    ns = obj["metadata"].get("namespace", "")
    io_ns = (obj.get("involvedObject") or {}).get("namespace") or ""
    if (io_ns and io_ns != ns) or (not io_ns and ns not in ("", "default")):
        return [FieldError("Invalid", "involvedObject.namespace", io_ns,
                           "does not match event.namespace")]
    return []


KIND_RULES = {"Ingress": _validate_ingress, "Service": _validate_service,
              "Event": _validate_event, "Pod": _validate_pod,
              "Secret": _validate_secret,
              "EndpointSlice": _validate_endpointslice,
              "Lease": _validate_lease, "DNSEndpoint": _validate_dnsendpoint}


def validate(res, obj):
    errs = validate_meta(res, obj)
    rule = KIND_RULES.get(res.kind)
    if rule:
        errs.extend(rule(obj))
    if res.kind == "Ingress":
        errs.extend(validate_ingress_status(obj))
    return errs


def validate_update(res, new, old):
    """Update-only rules (immutable fields)."""
    errs = []
    if res.kind == "Secret" and old.get("immutable"):
        if not new.get("immutable"):
            errs.append(FieldError("Forbidden", "immutable", detail=(
                "field is immutable when `immutable` is set")))
        if (new.get("data") or {}) != (old.get("data") or {}):
            errs.append(FieldError("Forbidden", "data", detail=(
                "field is immutable when `immutable` is set")))
    if res.kind == "Secret" and new.get("type") != old.get("type"):
        errs.append(FieldError("Invalid", "type", new.get("type"),
                               "field is immutable"))
    if res.kind == "Service":
        nip = (new.get("spec") or {}).get("clusterIP")
        oip = (old.get("spec") or {}).get("clusterIP")
        if oip and nip != oip and \
                (new.get("spec") or {}).get("type") != "ExternalName":
            errs.append(FieldError("Invalid", "spec.clusterIPs[0]", nip,
                                   "may not change once set"))
    return errs


def carry_over_allocations(res, new, old):
    """The Service REST keeps the allocated ClusterIP when an update omits
    it (patchAllocatedValues)."""
    if res.kind != "Service":
        return
    nspec, ospec = new.setdefault("spec", {}), old.get("spec") or {}
    old_node_ports = {p.get("port"): p.get("nodePort")
                      for p in ospec.get("ports") or [] if p.get("nodePort")}
    for p in nspec.get("ports") or []:
        if not p.get("nodePort") and p.get("port") in old_node_ports:
            p["nodePort"] = old_node_ports[p["port"]]
    if nspec.get("type", "ClusterIP") != "ExternalName" and \
            not nspec.get("clusterIP") and ospec.get("clusterIP"):
        nspec["clusterIP"] = ospec["clusterIP"]
        if not nspec.get("clusterIPs") and ospec.get("clusterIPs"):
            nspec["clusterIPs"] = list(ospec["clusterIPs"])


# --- defaulting --------------------------------------------------------------

def apply_defaults(res, obj, allocate_ip, allocate_node_port=None):
    """Defaults the real server sets; allocate_ip() hands out ClusterIPs."""
    if res.kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
    elif res.kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            if spec["type"] != "ExternalName":
                p.setdefault("targetPort", p.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            if spec["type"] == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
            if allocate_node_port and (spec["type"] == "NodePort" or
                                       spec["allocateLoadBalancerNodePorts"]):
                for p in spec.get("ports") or []:
                    if not p.get("nodePort"):
                        p["nodePort"] = allocate_node_port()
        if spec["type"] != "ExternalName":
            if not spec.get("clusterIP"):
                spec["clusterIP"] = allocate_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if spec["clusterIP"] != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        obj.setdefault("status", {"loadBalancer": {}})
    elif res.kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif res.kind == "Pod":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        # A new pod waits for the scheduler and the kubelet: Pending.
        obj.setdefault("status", {"phase": "Pending"})
    elif res.kind == "EndpointSlice":
        for p in obj.get("ports") or []:
            p.setdefault("protocol", "TCP")
    elif res.kind == "Ingress":
        obj.setdefault("status", {"loadBalancer": {}})
        obj["status"].setdefault("loadBalancer", {})
    elif res.kind == "Event":
        obj.setdefault("involvedObject", {})
        obj.setdefault("reportingComponent", "")
        obj.setdefault("reportingInstance", "")
