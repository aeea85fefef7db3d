"""The object store: every object of every served type, one global
resourceVersion counter (like an etcd revision), a bounded event history
for watches and consistent paginated lists, and the registry write rules
(create, update, status update, patch, delete with finalizers).

All state lives in one Store instance guarded by one Condition; watchers
wait on it for new events."""

import base64
import bisect
import copy
import datetime
import ipaddress
import json
import threading
import time
import uuid

from . import errors, validation
from .errors import ApiError, FieldError
from .patch import json_patch, merge_patch, strategic_merge_patch
from .resources import RESOURCES, lookup
from .selectors import FieldSelector, LabelSelector

DEFAULT_NAMESPACES = ["default", "kube-system", "kube-public",
                      "kube-node-lease"]
DEFAULT_HISTORY = 10000
FUTURE_RV_WAIT_SECONDS = 3.0
CONTINUE_VERSION = "meta.k8s.io/v1"
CLUSTER_IP_FIRST = int(ipaddress.ip_address("10.96.0.10"))
NODE_PORT_FIRST = 30000           # --service-node-port-range 30000-32767

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Event:
    __slots__ = ("rv", "rkey", "type", "obj", "prev")

    def __init__(self, rv, rkey, typ, obj, prev):
        self.rv, self.rkey, self.type, self.obj, self.prev = \
            rv, rkey, typ, obj, prev


def _obj_key(obj):
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _key_string(key):
    ns, name = key
    return f"{ns}/{name}" if ns else name


META_ORDER = ["name", "generateName", "namespace", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations",
              "ownerReferences", "finalizers"]


def normalized(obj):
    """The object with fields in the order the real server writes them:
    kind, apiVersion, metadata (name, namespace, uid, ...), the rest."""
    out = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion")}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: meta[k] for k in META_ORDER if k in meta}
    out["metadata"].update({k: v for k, v in meta.items()
                            if k not in out["metadata"]})
    rest = [k for k in obj if k not in out]
    for k in sorted(rest, key=lambda k: (k == "status", 0)):
        out[k] = obj[k]
    return out


def without_type(obj):
    out = dict(obj)
    out.pop("kind", None)
    out.pop("apiVersion", None)
    return out


class Store:
    def __init__(self, history_size=DEFAULT_HISTORY, strict_namespaces=False):
        self.cond = threading.Condition()
        self.rv = 0
        self.objects = {r.key(): {} for r in RESOURCES}
        self.history = []
        self.floor = 0           # watches/lists from an RV >= floor are served
        self.continue_floor = 0  # continue tokens from an RV below are expired
        self.history_size = history_size
        self.strict_namespaces = strict_namespaces
        self.watch_epoch = 0     # bumped to end every open watch
        # Per type, bumped to end its watches (its CRD was deleted).
        self.type_epochs = {r.key(): 0 for r in RESOURCES}
        # Keys of the CRDs not installed: their types are not served.
        self.removed_crds = set()
        self.bookmark_epoch = 0  # bumped to send a bookmark on every watch
        self.next_ip = CLUSTER_IP_FIRST
        self.next_node_port = NODE_PORT_FIRST
        # One type's keys in list order at one revision, kept for the next
        # page: {res key: (list rv, namespace, [key strings], [keys])}
        self.list_order = {}
        with self.cond:
            self._create_default_namespaces()

    # --- internals (lock held) ------------------------------------------------

    def _create_default_namespaces(self):
        ns_res = lookup("", "v1", "namespaces")
        for name in DEFAULT_NAMESPACES:
            if ("", name) not in self.objects[ns_res.key()]:
                self._create(ns_res, "", {"metadata": {"name": name}}, False)

    def _allocate_ip(self):
        ip = str(ipaddress.ip_address(self.next_ip))
        self.next_ip += 1
        return ip

    def _allocate_node_port(self):
        port = self.next_node_port
        self.next_node_port += 1
        return port

    def _record(self, res, typ, obj, prev):
        self.history.append(Event(self.rv, res.key(), typ, obj, prev))
        if len(self.history) > self.history_size:
            dropped = self.history.pop(0)
            self.floor = dropped.rv
        self.cond.notify_all()

    def _state_at(self, res, rv):
        """The objects of one type as they were at revision rv (the live
        dict itself when none of them changed since: read it only)."""
        newer = []
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.rkey == res.key():
                newer.append(ev)
        if not newer:
            return self.objects[res.key()]
        state = dict(self.objects[res.key()])
        for ev in newer:
            key = _obj_key(ev.obj)
            if ev.type == "ADDED":
                state.pop(key, None)
            else:
                state[key] = ev.prev
        return state

    def _check_namespace(self, res, ns, obj):
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if res.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request")
            meta["namespace"] = ns
            if self.strict_namespaces and \
                    ("", ns) not in self.objects[("", "namespaces")]:
                raise errors.not_found(lookup("", "v1", "namespaces"), ns)
        else:
            meta.pop("namespace", None)

    @staticmethod
    def _check_type(res, obj, on_unknown=None):
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != res.group_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({res.group_version})")
        if kind and kind != res.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected "
                f"kind ({res.kind})")
        obj["apiVersion"], obj["kind"] = res.group_version, res.kind
        unknown = validation.check_types(res, obj)
        if unknown and on_unknown is not None:
            on_unknown(res, unknown)

    def _validate(self, res, obj):
        errs = validation.validate(res, obj)
        if errs:
            raise errors.invalid(res, obj["metadata"].get("name", ""), errs)

    def _generation_changed(self, res, old, new):
        if res.generation is None:
            return False
        if res.generation == "all-but-meta":
            fields = (set(old) | set(new)) - {"metadata", "status", "kind",
                                                "apiVersion"}
        else:
            fields = res.generation
        return any(old.get(f) != new.get(f) for f in fields)

    def _create(self, res, ns, obj, dry_run, on_unknown=None, owned=False):
        """owned: obj is the store's to keep (not copied)."""
        if not owned:
            obj = copy.deepcopy(obj)
        self._check_type(res, obj, on_unknown)
        self._check_namespace(res, ns, obj)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError",
                           "Internal error occurred: resourceVersion should "
                           "not be set on objects to be created",
                           {"causes": [{"message": "resourceVersion should "
                                        "not be set on objects to be "
                                        "created"}]})
        if res.status:
            obj.pop("status", None)
        validation.apply_defaults(res, obj, self._allocate_ip,
                                  self._allocate_node_port)
        self._validate(res, obj)
        key = _obj_key(obj)
        if key in self.objects[res.key()]:
            raise errors.already_exists(res, meta["name"])
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds",
                  "managedFields", "selfLink"):
            meta.pop(f, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if res.generation is not None:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if dry_run:
            return obj
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        obj = normalized(obj)
        self.objects[res.key()][key] = obj
        self._record(res, "ADDED", obj, None)
        return obj

    def _get(self, res, ns, name):
        obj = self.objects[res.key()].get((ns if res.namespaced else "", name))
        if obj is None:
            raise errors.not_found(res, name)
        return obj

    def _update(self, res, ns, name, body, subresource, dry_run,
                from_patch=False, on_unknown=None):
        """PUT semantics; returns (object, created)."""
        body = copy.deepcopy(body)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON "
                                     "object")
        self._check_type(res, body, on_unknown)
        self._check_namespace(res, ns, body)
        meta = body["metadata"]
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name') or ''}) does not "
                f"match the name on the URL ({name})")
        key = (ns if res.namespaced else "", name)
        old = self.objects[res.key()].get(key)
        if old is None:
            if res.create_on_update and not subresource and not from_patch:
                meta.pop("resourceVersion", None)
                return self._create(res, ns, body, dry_run), True
            raise errors.not_found(res, name)
        given_rv = meta.get("resourceVersion") or ""
        if not given_rv and not res.unconditional_update:
            raise errors.invalid(res, name, [FieldError(
                "Invalid", "metadata.resourceVersion", 0,
                "must be specified for an update")])
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        if subresource == "status" and res.crd:
            # customresource statusStrategy: everything but status is the
            # stored object.
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
        else:
            new = body
            if subresource == "status":
                # Built-in status strategies (ingress, service, namespace)
                # reset spec only; metadata changes go through.
                keep = (set(old) | set(new)) - {"metadata", "status", "kind",
                                                "apiVersion"}
            else:
                keep = {"status"} if res.status else set()
            for f in keep:
                if f in old:
                    new[f] = copy.deepcopy(old[f])
                else:
                    new.pop(f, None)
            if subresource != "status":
                validation.carry_over_allocations(res, new, old)
                validation.apply_defaults(res, new, self._allocate_ip,
                                          self._allocate_node_port)
            nmeta, ometa = new["metadata"], old["metadata"]
            for f in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
                if f in ometa:
                    nmeta[f] = ometa[f]
                else:
                    nmeta.pop(f, None)
            nmeta.pop("managedFields", None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        self._validate(res, new)
        errs = validation.validate_update(res, new, old)
        if errs:
            raise errors.invalid(res, name, errs)
        if new == old:
            return old, False      # no-op update: no new revision, no event
        if self._generation_changed(res, old, new):
            new["metadata"]["generation"] = \
                old["metadata"].get("generation", 0) + 1
        if dry_run:
            return new, False
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        new = normalized(new)
        if new["metadata"].get("deletionTimestamp") and \
                not new["metadata"].get("finalizers"):
            del self.objects[res.key()][key]
            self._record(res, "DELETED", new, old)
            return new, False
        self.objects[res.key()][key] = new
        self._record(res, "MODIFIED", new, old)
        return new, False

    # --- public API (takes the lock) ------------------------------------------

    def current_rv(self):
        with self.cond:
            return self.rv

    def get(self, res, ns, name):
        with self.cond:
            return copy.deepcopy(self._get(res, ns, name))

    def create(self, res, ns, obj, dry_run=False, on_unknown=None):
        """on_unknown(res, paths) is told about unknown fields (dropped)."""
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON "
                                     "object")
        with self.cond:
            return copy.deepcopy(self._create(res, ns, obj, dry_run,
                                              on_unknown))

    def preload(self, objects):
        """Creates every object of an iterable (each with apiVersion and
        kind; the store keeps them) as POSTs would, one revision each, in
        one go: a test's or bench's setup, not an API. Returns how many;
        raises ApiError (or
        ValueError for a type not served) at the first refused one."""
        by_kind = {(r.group_version, r.kind): r for r in RESOURCES}
        n = 0
        with self.cond:
            for obj in objects:
                if not isinstance(obj, dict):
                    raise ValueError("an object must be a JSON object")
                res = by_kind.get((obj.get("apiVersion"), obj.get("kind")))
                if res is None or res.key() in self.removed_crds:
                    raise ValueError(f"not served: {obj.get('apiVersion')} "
                                     f"{obj.get('kind')}")
                meta = obj.get("metadata") or {}
                ns = (meta.get("namespace") or "default") \
                    if res.namespaced else ""
                self._create(res, ns, obj, False, owned=True)
                n += 1
        return n

    def update(self, res, ns, name, obj, subresource=None, dry_run=False,
               on_unknown=None):
        with self.cond:
            out, created = self._update(res, ns, name, obj, subresource,
                                        dry_run, on_unknown=on_unknown)
            return copy.deepcopy(out), created

    def patch(self, res, ns, name, content_type, body, subresource=None,
              dry_run=False, on_unknown=None):
        with self.cond:
            cur = self._get(res, ns, name)
            if content_type == MERGE_PATCH:
                if not isinstance(body, dict):
                    raise errors.bad_request("merge patch must be a JSON "
                                             "object")
                patched = merge_patch(cur, body)
            elif content_type == JSON_PATCH:
                patched = json_patch(cur, body)
            elif content_type == STRATEGIC_PATCH and not res.crd:
                patched = strategic_merge_patch(cur, body, res.kind)
            else:
                accepted = [JSON_PATCH, MERGE_PATCH]
                if not res.crd:
                    accepted.append(STRATEGIC_PATCH)
                raise errors.unsupported_media_type(content_type, accepted)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patched object must be a JSON "
                                         "object")
            meta = patched.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise errors.bad_request("metadata must be an object")
            if meta.get("name") != name:
                raise errors.bad_request(
                    f"the name of the object ({meta.get('name') or ''}) does "
                    f"not match the name on the URL ({name})")
            if not meta.get("resourceVersion"):
                meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
            if meta.get("uid") and meta["uid"] != cur["metadata"]["uid"]:
                raise errors.conflict(
                    res, name, f"Precondition failed: UID in precondition: "
                    f"{meta['uid']}, UID in object meta: "
                    f"{cur['metadata']['uid']}")
            out, _ = self._update(res, ns, name, patched, subresource, dry_run,
                                  from_patch=True, on_unknown=on_unknown)
            return copy.deepcopy(out)

    def delete(self, res, ns, name, options=None, dry_run=False):
        """Returns (object, deleted_now)."""
        options = options or {}
        if not isinstance(options, dict) or \
                not isinstance(options.get("preconditions") or {}, dict):
            raise errors.bad_request(
                'DeleteOptions in version "v1" cannot be handled as a '
                'DeleteOptions: json: cannot unmarshal into Go value of type '
                'v1.DeleteOptions')
        with self.cond:
            cur = self._get(res, ns, name)
            pre = options.get("preconditions") or {}
            cur_rv = cur["metadata"]["resourceVersion"]
            if pre.get("resourceVersion") and pre["resourceVersion"] != cur_rv:
                raise errors.conflict(
                    res, name, f"Precondition failed: ResourceVersion in "
                    f"precondition: {pre['resourceVersion']}, ResourceVersion "
                    f"in object meta: {cur_rv}")
            if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
                raise errors.conflict(
                    res, name, f"Precondition failed: UID in precondition: "
                    f"{pre['uid']}, UID in object meta: "
                    f"{cur['metadata']['uid']}")
            if dry_run:
                return copy.deepcopy(cur), True
            key = _obj_key(cur)
            if cur["metadata"].get("finalizers"):
                if cur["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(cur), False
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if res.generation is not None:
                    new["metadata"]["generation"] = \
                        cur["metadata"].get("generation", 0) + 1
                self.rv += 1
                new["metadata"]["resourceVersion"] = str(self.rv)
                self.objects[res.key()][key] = new
                self._record(res, "MODIFIED", new, cur)
                return copy.deepcopy(new), False
            if res.kind == "Namespace":
                self._delete_namespace_contents(name)
            self.rv += 1
            gone = copy.deepcopy(cur)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            del self.objects[res.key()][key]
            self._record(res, "DELETED", gone, cur)
            return copy.deepcopy(gone), True

    def _delete_namespace_contents(self, ns):
        for r in RESOURCES:
            if not r.namespaced:
                continue
            for key in [k for k in self.objects[r.key()] if k[0] == ns]:
                cur = self.objects[r.key()].pop(key)
                self.rv += 1
                gone = copy.deepcopy(cur)
                gone["metadata"]["resourceVersion"] = str(self.rv)
                self._record(r, "DELETED", gone, cur)

    # --- LIST ------------------------------------------------------------------

    @staticmethod
    def encode_continue(rv, start):
        raw = json.dumps({"v": CONTINUE_VERSION, "rv": rv, "start": start},
                         separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode_continue(token):
        try:
            pad = "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(token + pad))
            if data.get("v") != CONTINUE_VERSION:
                raise ValueError("version")
            return int(data["rv"]), str(data["start"])
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            raise errors.bad_request(
                "continue key is not valid: incorrect encoded start "
                f"resourceVersion (version {CONTINUE_VERSION})")

    def _wait_for_rv(self, rv):
        deadline = time.monotonic() + FUTURE_RV_WAIT_SECONDS
        while self.rv < rv:
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.too_large_rv(rv, self.rv)
            self.cond.wait(left)

    def list(self, res, ns, label_selector="", field_selector="", limit=0,
             cont="", resource_version="", rv_match=""):
        lsel = LabelSelector(label_selector)
        fsel = FieldSelector(field_selector, res)
        with self.cond:
            start = ""
            if cont:
                if resource_version not in ("", None):
                    raise errors.bad_request(
                        "specifying resource version is not allowed when "
                        "using continue")
                rv, start = self.decode_continue(cont)
                if rv == -1:
                    state, list_rv = self.objects[res.key()], self.rv
                elif rv < max(self.floor, self.continue_floor):
                    raise ApiError(410, "Expired",
                                   errors.INCONSISTENT_CONTINUE_MSG,
                                   list_continue=self.encode_continue(-1,
                                                                      start))
                else:
                    state, list_rv = self._state_at(res, rv), rv
            elif resource_version in ("", None):
                state, list_rv = self.objects[res.key()], self.rv
            else:
                rv = self._parse_rv(resource_version)
                if rv == 0 and rv_match != "Exact":
                    limit = 0     # served by the watch cache, limit ignored
                    state, list_rv = self.objects[res.key()], self.rv
                elif rv_match == "Exact" or (limit and rv_match == ""):
                    self._wait_for_rv(rv)
                    if rv < self.floor:
                        raise errors.expired(errors.LIST_EXPIRED_MSG)
                    state, list_rv = self._state_at(res, rv), rv
                else:
                    self._wait_for_rv(rv)
                    state, list_rv = self.objects[res.key()], self.rv
            strings, keys = self._list_order(res, ns, state, list_rv)
            # The first key after start (bisect: a page costs its items,
            # not the whole type, as etcd's range reads).
            at = bisect.bisect_left(strings, start)
            while at < len(strings) and strings[at] + "\x00" <= start:
                at += 1
            items, more, last = [], False, None
            for k in keys[at:]:
                obj = state[k]
                if not (lsel.match(obj["metadata"].get("labels"))
                        and fsel.match(obj)):
                    continue
                if limit and len(items) == limit:
                    more = True
                    break
                items.append(obj)
                last = k
            meta = {"resourceVersion": str(list_rv)}
            if more:
                meta["continue"] = self.encode_continue(
                    list_rv, _key_string(last) + "\x00")
                if not lsel.reqs and not fsel.terms:
                    meta["remainingItemCount"] = \
                        len(keys) - at - len(items)
            return {"kind": res.kind + "List", "apiVersion": res.group_version,
                    "metadata": meta,
                    # Stored objects are never changed in place (the watch
                    # history holds them): the page shares them, read-only.
                    "items": [without_type(o) for o in items]}

    def _list_order(self, res, ns, state, list_rv):
        """The keys of state in etcd order (by the key string "ns/name",
        not by (ns, name)), only ns's for a namespaced list: sorted once
        per revision and namespace, reused by the next pages."""
        cached = self.list_order.get(res.key())
        if cached and cached[0] == list_rv and cached[1] == ns:
            return cached[2], cached[3]
        pairs = sorted((_key_string(k), k) for k in state
                       if not res.namespaced or not ns or k[0] == ns)
        strings = [p[0] for p in pairs]
        keys = [p[1] for p in pairs]
        self.list_order[res.key()] = (list_rv, ns, strings, keys)
        return strings, keys

    @staticmethod
    def _parse_rv(text):
        try:
            rv = int(text)
            if rv < 0:
                raise ValueError
            return rv
        except ValueError:
            raise ApiError(400, "BadRequest",
                           f'invalid resource version "{text}"') from None

    # --- WATCH -----------------------------------------------------------------

    def open_watch(self, res, ns, label_selector, field_selector,
                   resource_version, send_initial):
        """Validate a watch request; returns a Watch or raises ApiError
        (raised before the 200 is sent)."""
        lsel = LabelSelector(label_selector)
        fsel = FieldSelector(field_selector, res)
        rv = None
        if resource_version not in ("", None):
            rv = self._parse_rv(resource_version)
        return Watch(self, res, ns, lsel, fsel, rv, send_initial)

    def close_watches(self):
        with self.cond:
            self.watch_epoch += 1
            self.cond.notify_all()

    def wake_watches(self):
        with self.cond:
            self.cond.notify_all()

    def force_bookmarks(self):
        with self.cond:
            self.bookmark_epoch += 1
            self.cond.notify_all()

    def expire_continue_tokens(self):
        with self.cond:
            self.rv += 1          # a compaction point no token can reach
            self.continue_floor = self.rv

    def restart(self, lose_history=True, keep_objects=True):
        with self.cond:
            self.watch_epoch += 1
            self.list_order = {}
            if lose_history:
                self.rv += 1
                self.history = []
                self.floor = self.rv
                self.continue_floor = self.rv
            if not keep_objects:
                for r in RESOURCES:
                    self.objects[r.key()] = {}
                self._create_default_namespaces()
            self.cond.notify_all()

    def remove_crd(self, res):
        """Deleting the CustomResourceDefinition: every object of the type
        is deleted (watchers see DELETED, as the CRD finalizer's cleanup
        does), then the type is no longer served and its watches end."""
        with self.cond:
            for key in sorted(self.objects[res.key()]):
                cur = self.objects[res.key()].pop(key)
                self.rv += 1
                gone = copy.deepcopy(cur)
                gone["metadata"]["resourceVersion"] = str(self.rv)
                self._record(res, "DELETED", gone, cur)
            self.removed_crds.add(res.key())
            self.type_epochs[res.key()] += 1
            self.cond.notify_all()

    def install_crd(self, res):
        with self.cond:
            self.removed_crds.discard(res.key())

    def served(self, res):
        with self.cond:
            return res.key() not in self.removed_crds

    def counts(self):
        with self.cond:
            return {f"{g + '/' if g else ''}{p}": len(objs)
                    for (g, p), objs in self.objects.items()}


class Watch:
    """One watch stream's cursor.  next_batch() blocks until it has events."""

    def __init__(self, store, res, ns, lsel, fsel, rv, send_initial):
        self.store, self.res, self.ns = store, res, ns
        self.lsel, self.fsel = lsel, fsel
        self.epoch = store.watch_epoch
        self.type_epoch = store.type_epochs[res.key()]
        self.bookmark_epoch = store.bookmark_epoch
        self.initial = []
        self.error = None
        self.initial_end = False
        with store.cond:
            if rv is None or rv == 0 or send_initial:
                # Synthetic ADDED for every current object, then live events.
                self.cursor = store.rv
                objs = store.objects[res.key()]
                for key in sorted(objs):
                    o = objs[key]
                    if self._matches(o):
                        self.initial.append(("ADDED", copy.deepcopy(o)))
                self.initial_end = bool(send_initial)
            else:
                if rv > store.rv:
                    try:
                        store._wait_for_rv(rv)
                    except ApiError as e:
                        self.error = e
                if self.error is None and rv < store.floor:
                    self.error = errors.expired(
                        f"too old resource version: {rv} ({store.floor})")
                self.cursor = rv

    def _matches(self, obj):
        meta = obj["metadata"]
        if self.res.namespaced and self.ns and meta.get("namespace") != self.ns:
            return False
        return self.lsel.match(meta.get("labels")) and self.fsel.match(obj)

    def _convert(self, ev):
        cur = ev.type != "DELETED" and self._matches(ev.obj)
        old = ev.prev is not None and self._matches(ev.prev)
        if cur and not old:
            return ("ADDED", copy.deepcopy(ev.obj))
        if cur and old:
            return ("MODIFIED", copy.deepcopy(ev.obj))
        if old:
            gone = copy.deepcopy(ev.prev)
            gone["metadata"]["resourceVersion"] = str(ev.rv)
            return ("DELETED", gone)
        return None

    def bookmark(self):
        return ("BOOKMARK", {"kind": self.res.kind,
                             "apiVersion": self.res.group_version,
                             "metadata": {"resourceVersion":
                                          str(self.cursor)}})

    def next_batch(self, deadline, bookmark_due, gone=None,
                   check_every=None):
        """Wait for events until deadline (monotonic); bookmark_due() gives
        the monotonic time of the next bookmark or None; gone() is polled
        every check_every seconds while idle.  Returns (events, state) with
        state one of "events", "bookmark", "timeout", "closed", "expired",
        "gone"."""
        st = self.store
        with st.cond:
            while True:
                if st.watch_epoch != self.epoch:
                    return [], "closed"
                if self.cursor < st.floor:
                    return [], "expired"
                out = []
                if st.history and st.history[-1].rv > self.cursor:
                    lo = self._first_after(self.cursor)
                    for ev in st.history[lo:]:
                        if ev.rkey == self.res.key():
                            conv = self._convert(ev)
                            if conv:
                                out.append(conv)
                    self.cursor = st.history[-1].rv
                    if out:
                        return out, "events"
                # The type's CRD was deleted: its DELETED events (above)
                # went out first, as the CRD finalizer's cleanup sends them.
                if st.type_epochs[self.res.key()] != self.type_epoch:
                    return [], "closed"
                self.cursor = max(self.cursor, st.rv)
                if st.bookmark_epoch != self.bookmark_epoch:
                    self.bookmark_epoch = st.bookmark_epoch
                    return [], "bookmark"
                now = time.monotonic()
                bookmark_at = bookmark_due()
                if bookmark_at is not None and now >= bookmark_at:
                    return [], "bookmark"
                if now >= deadline:
                    return [], "timeout"
                if gone is not None and gone():
                    return [], "gone"
                wake = deadline if bookmark_at is None else min(deadline,
                                                                bookmark_at)
                if check_every is not None:
                    wake = min(wake, now + check_every)
                st.cond.wait(max(0.0, wake - now))

    def _first_after(self, rv):
        hist = self.store.history
        lo, hi = 0, len(hist)
        while lo < hi:
            mid = (lo + hi) // 2
            if hist[mid].rv <= rv:
                lo = mid + 1
            else:
                hi = mid
        return lo
