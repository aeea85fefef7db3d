"""The Vault stand-in's core: mounts, ACL checks, seal state, sys/ paths,
fault injection and the request log. Transport-free: `Core.handle()` takes a
parsed HTTP request and returns an `Answer`; server.py does the sockets.

Request order follows the real server: sys/health, sys/seal-status and
sys/unseal first (they work while sealed); then 503 "Vault is sealed"; then
the body is parsed; then the token is resolved and the ACL checked (403);
then the mount's backend answers.
"""

import base64
import binascii
import collections
import json
import threading
import time
import traceback
import urllib.parse

from . import acl as aclmod
from .k8s import KubernetesAuth
from .kv import KVv1, KVv2
from .pki import PKI
from .tokens import TokenAuth, TokenStore
from .util import (PERMISSION_DENIED, SEALED, Request, Resp, VaultError,
                   as_bool, bad_request, denied, new_accessor, new_unseal_key,
                   new_uuid, not_found, parse_duration, unsupported)

VERSION = "1.15.6"
MAX_REQUEST_BYTES = 32 * 1024 * 1024
REQUEST_LOG_LIMIT = 10000
CONFIG_KEYS = frozenset(("mounts", "policies", "kubernetes", "pki_roles", "kv", "tokens", "requests"))
HANG_DEFAULT_SECONDS = 3600.0       # a "hang" fault without seconds: longer than any test
CLUSTER_NAME = "vault-cluster-fake"
CLUSTER_ID = "5a0f31d3-0000-4000-8000-fa4e0000cafe"
# Paths that need sudo (root-protected in the real server).
SUDO_PATHS = ("sys/seal", "sys/auth/", "sys/step-down")
_METHOD_OPS = {"GET": "read", "LIST": "list", "POST": "update", "PUT": "update",
               "DELETE": "delete", "PATCH": "patch"}
_CAP_FOR_OP = {"read": "read", "list": "list", "create": "create", "update": "update",
               "delete": "delete", "patch": "patch"}


def _decode_key(key):
    """Unseal keys come as hex or base64 (http/sys_seal.go); None if neither."""
    try:
        return bytes.fromhex(key)
    except ValueError:
        pass
    try:
        return base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return None


class Answer:
    """What to send: status, headers, body bytes; `hang` means say nothing."""

    def __init__(self, status, body=b"", content_type="application/json", headers=None, hang=0.0):
        self.status = status
        self.body = body
        self.headers = {"Cache-Control": "no-store"}
        if body or status not in (204,):
            self.headers["Content-Type"] = content_type
        self.headers.update(headers or {})
        self.hang = hang


def _json_answer(status, obj, headers=None):
    return Answer(status, (json.dumps(obj) + "\n").encode(), headers=headers)


def _error_answer(err):
    if err.body is not None:
        return _json_answer(err.status, err.body)
    return _json_answer(err.status, {"errors": err.errors})


class Mount:
    def __init__(self, path, backend, description=""):
        self.path = path
        self.backend = backend
        self.uuid = new_uuid()
        self.accessor = "%s_%s" % (backend.type, new_accessor()[:8].lower())
        self.description = description

    def describe(self):
        return {
            "accessor": self.accessor,
            "config": {"default_lease_ttl": 0, "force_no_cache": False, "max_lease_ttl": 0},
            "description": self.description,
            "external_entropy_access": False,
            "local": False,
            "options": self.backend.options,
            "plugin_version": "",
            "running_plugin_version": "v" + VERSION + "+builtin.vault" if self.backend.type in ("system", "token", "cubbyhole", "identity") else "",
            "running_sha256": "",
            "seal_wrap": False,
            "type": self.backend.type,
            "uuid": self.uuid,
        }


class _Placeholder:
    """A mount listed in sys/mounts that this stand-in does not implement."""

    def __init__(self, type_):
        self.type = type_
        self.options = None

    def exists(self, path):
        return None

    def unauthenticated(self, path, op):
        return False

    def handle(self, req):
        raise VaultError(404, ["unsupported path"])


class Fault:
    ACTIONS = ("status", "delay", "hang", "raw")

    def __init__(self, spec):
        self.action = spec.get("action", "status")
        if self.action not in self.ACTIONS:
            raise ValueError("action must be one of %s" % (self.ACTIONS,))
        self.count = int(spec.get("count", 1))
        self.path_prefix = spec.get("path_prefix") or ""
        self.method = (spec.get("method") or "").upper()
        self.status = int(spec.get("status", 200 if self.action == "raw" else 500))
        self.seconds = float(spec.get("seconds", 0))
        self.body = spec.get("body", "")
        self.errors = spec.get("errors")
        self.retry_after = spec.get("retry_after")

    def matches(self, method, vpath):
        return (self.count > 0 and vpath.startswith(self.path_prefix)
                and (not self.method or self.method == method))

    def describe(self):
        return {k: getattr(self, k) for k in ("action", "count", "path_prefix", "method",
                                             "status", "seconds", "body", "errors", "retry_after")}


class Core:
    def __init__(self, root_token, pki_ca=None, kv_v1_secret=False, log=None):
        self.lock = threading.RLock()
        self.log = log or (lambda msg: None)
        self.tokens = TokenStore()
        self.root = self.tokens.create(["root"], 0, tid=root_token, path="auth/token/root",
                                       display_name="root")
        self.unseal_key = new_unseal_key()
        self.sealed = False
        self.initialized = True
        self.standby = False
        self.performance_standby = False
        self.pki_ca = pki_ca
        self.policies = {"default": dict(aclmod.DEFAULT_POLICY)}
        self.policy_sources = {}
        self.mounts = {}
        self.auth_mounts = {}
        self.faults = []
        self.request_log = collections.deque(maxlen=REQUEST_LOG_LIMIT)
        self.counts = collections.Counter()
        self._mount("secret/", KVv1() if kv_v1_secret else KVv2(), "key/value secret storage")
        self._mount("cubbyhole/", _Placeholder("cubbyhole"), "per-token private secret storage")
        self._mount("identity/", _Placeholder("identity"), "identity store")
        self._mount("sys/", _Placeholder("system"), "system endpoints used for control, policy and debugging")
        self.auth_mounts["token/"] = Mount("auth/token/", TokenAuth(self.tokens), "token based credentials")

    # -- mounts ------------------------------------------------------------
    def _mount(self, path, backend, description=""):
        self.mounts[path] = Mount(path, backend, description)

    def mount_engine(self, path, type_, options=None):
        path = path.strip("/") + "/"
        if path in self.mounts:
            raise bad_request('path is already in use at %s' % path)
        version = str((options or {}).get("version", "1"))
        if type_ in ("kv", "kv-v2", "generic"):
            backend = KVv2() if (type_ == "kv-v2" or version == "2") else KVv1()
            # Like the real table: options are what the mount was given
            # (null for a plain `secrets enable kv`), kv-v2 records version 2.
            if type_ == "kv-v2":
                backend.options = {"version": "2"}
            elif options and "version" in options:
                backend.options = {"version": version}
            else:
                backend.options = None
        elif type_ == "pki":
            backend = PKI(self.pki_ca)
        else:
            raise bad_request('plugin not found in the catalog: %s' % type_)
        self._mount(path, backend)

    def enable_auth(self, path, type_):
        path = path.strip("/") + "/"
        if path in self.auth_mounts:
            raise bad_request("path is already in use at auth/%s" % path)
        if type_ != "kubernetes":
            raise bad_request("plugin not found in the catalog: %s" % type_)
        self.auth_mounts[path] = Mount("auth/" + path, KubernetesAuth(self.tokens))

    def _route(self, vpath):
        """(mount, path relative to it) by longest prefix, or (None, vpath)."""
        best = None
        if vpath.startswith("auth/"):
            rest = vpath[len("auth/"):]
            for p, m in self.auth_mounts.items():
                if rest.startswith(p) or rest + "/" == p:
                    if best is None or len(p) > len(best[0]):
                        best = (p, m, rest[len(p):])
            return (best[1], best[2]) if best else (None, vpath)
        for p, m in self.mounts.items():
            if vpath.startswith(p) or vpath + "/" == p:
                if best is None or len(p) > len(best[0]):
                    best = (p, m, vpath[len(p):])
        return (best[1], best[2]) if best else (None, vpath)

    # -- tokens and ACL ------------------------------------------------------
    def acl_for(self, tok):
        if tok.is_root:
            return aclmod.ACL([], root=True)
        return aclmod.ACL([self.policies[p] for p in tok.policies if p in self.policies])

    def set_policy(self, name, source):
        if name == "root":
            raise bad_request('cannot update "root" policy')
        self.policies[name] = aclmod.parse_policy(source)

    # -- entry point ---------------------------------------------------------
    def handle(self, method, raw_path, headers, body):
        url = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(url.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        if path.startswith("/__fake/"):
            with self.lock:
                return self._admin(method, path[len("/__fake/"):], query, body)
        if not path.startswith("/v1/"):
            return _json_answer(404, {"errors": []})
        vpath = path[len("/v1/"):]
        token_value = headers.get("X-Vault-Token") or ""
        auth = headers.get("Authorization") or ""
        if not token_value and auth.lower().startswith("bearer "):
            token_value = auth[len("bearer "):].strip()
        entry = {"time": time.time(), "method": method, "path": vpath,
                 "query": url.query, "token": bool(token_value),
                 "accessor": None, "policies": None, "status": 0, "fault": None}
        with self.lock:
            fault = self._take_fault(method, vpath)
        if fault is not None:
            entry["fault"] = fault.action
            if fault.action == "delay":
                time.sleep(fault.seconds)
            else:
                ans = self._fault_answer(fault, vpath)
                self._record(entry, ans)
                return ans
        with self.lock:
            try:
                ans = self._handle(method, vpath, query, headers, body, token_value, entry)
            except VaultError as e:
                ans = _error_answer(e)
            except (ValueError, TypeError, AttributeError, KeyError) as e:
                # A field of the wrong type deep in a backend: the real
                # framework rejects those with 400 before the backend runs.
                self.log("bad input on %s %s: %s" % (method, vpath, traceback.format_exc()))
                ans = _json_answer(400, {"errors": ["error converting input: %s" % e]})
            self._record(entry, ans)
        return ans

    def _record(self, entry, ans):
        with self.lock:
            entry["status"] = 0 if ans.hang else ans.status
            self.request_log.append(entry)
            self.counts[entry["path"]] += 1
        self.log("%s /v1/%s -> %s%s token=%s%s" % (
            entry["method"], entry["path"], entry["status"] or "no answer",
            " (fault %s)" % entry["fault"] if entry["fault"] else "",
            "yes" if entry["token"] else "no",
            " policies=%s" % ",".join(entry["policies"]) if entry["policies"] else ""))

    def _take_fault(self, method, vpath):
        for f in self.faults:
            if f.matches(method, vpath):
                f.count -= 1
                if f.count <= 0:
                    self.faults.remove(f)
                return f
        return None

    def _fault_answer(self, f, vpath):
        if f.action == "hang":
            return Answer(0, hang=f.seconds or HANG_DEFAULT_SECONDS)
        if f.action == "raw":
            return Answer(f.status, f.body.encode())
        errors = f.errors
        headers = {}
        if errors is None:
            if f.status == 429:
                errors = ['request path "%s": rate limit quota exceeded' % vpath]
            elif f.status == 503:
                errors = [SEALED]
            elif f.status == 403:
                errors = [PERMISSION_DENIED]
            else:
                errors = ["1 error occurred:\n\t* internal error\n\n"]
        if f.retry_after is not None:
            headers["Retry-After"] = str(f.retry_after)
        return _json_answer(f.status, {"errors": errors}, headers)

    def _envelope(self, resp, mount):
        env = dict(resp.extra or {})
        env.update({
            "request_id": new_uuid(),
            "lease_id": resp.lease_id,
            "renewable": resp.renewable,
            "lease_duration": resp.lease_duration,
            "data": resp.data,
            "wrap_info": None,
            "warnings": resp.warnings,
            "auth": resp.auth,
            "mount_type": mount.backend.type if mount else "",
        })
        return env

    def _handle(self, method, vpath, query, headers, body, token_value, entry):
        if len(body) > MAX_REQUEST_BYTES:
            raise VaultError(413, ["http: request body too large"])
        special = {"sys/health": self._health, "sys/seal-status": self._seal_status,
                   "sys/unseal": self._unseal, "sys/leader": self._leader,
                   "sys/init": self._init_status}.get(vpath.rstrip("/"))
        if special is not None:
            return special(method, query, self._json_body(body) if method in ("POST", "PUT") else {})
        if method == "HEAD":
            return Answer(405, b"")
        if self.sealed:
            raise VaultError(503, [SEALED])
        op = _METHOD_OPS.get(method)
        if op is None:
            return _json_answer(405, {"errors": []})
        if op == "read" and as_bool(query.get("list")):
            op = "list"
        if op == "patch" and not (headers.get("Content-Type") or "").startswith("application/merge-patch+json"):
            raise VaultError(415, ['PATCH requires Content-Type "application/merge-patch+json"'])
        data = self._json_body(body)
        if op == "list" and not vpath.endswith("/"):
            vpath += "/"
        mount, rel = self._route(vpath)
        backend = mount.backend if mount else None
        tok = self.tokens.lookup(token_value)
        if tok is not None:
            entry["accessor"] = tok.accessor
            entry["policies"] = list(tok.policies)
        unauth = backend is not None and backend.unauthenticated(rel, op)
        if not unauth:
            if tok is None:
                raise denied()
            if op == "update" and backend is not None and backend.exists(rel) is False:
                op = "create"
            acl = self.acl_for(tok)
            if vpath.startswith("sys/internal/ui/mounts/"):
                pass                                  # visibility checked below
            elif not acl.allows(vpath, _CAP_FOR_OP[op]):
                raise denied()
            elif any(vpath == s or (s.endswith("/") and vpath.startswith(s)) for s in SUDO_PATHS) \
                    and not acl.allows(vpath, "sudo"):
                raise denied()
            self.tokens.use(tok)
        if mount is not None and mount.path == "sys/":
            resp = self._sys(op, rel, data, tok, query)
        elif backend is None:
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % vpath])
        else:
            resp = backend.handle(Request(op, rel, data, query, tok, mount.path))
        if resp is None:
            return Answer(204)
        if resp.raw is not None:
            return Answer(resp.status, resp.raw, resp.content_type)
        return _json_answer(resp.status, self._envelope(resp, mount))

    @staticmethod
    def _json_body(body):
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError as e:
            raise bad_request("failed to parse JSON input: %s" % e)
        if not isinstance(data, dict):
            raise bad_request("failed to parse JSON input: body must be a JSON object")
        return data

    # -- sys/health and the seal ------------------------------------------------
    def _health_body(self):
        return {
            "initialized": self.initialized,
            "sealed": self.sealed,
            "standby": self.standby or self.sealed,
            "performance_standby": self.performance_standby,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": VERSION,
            "enterprise": False,
            "cluster_name": CLUSTER_NAME,
            "cluster_id": CLUSTER_ID,
            "echo_duration_ms": 0,
            "clock_skew_ms": 0,
        }

    def _health(self, method, query, _data):
        if method not in ("GET", "HEAD"):
            return _json_answer(405, {"errors": []})

        def code(name, default):
            v = query.get(name)
            if v is None or v == "":
                return default
            try:
                return int(v)
            except ValueError:
                raise bad_request('unable to parse %s code: strconv.Atoi: parsing "%s": invalid syntax' % (name, v))

        active = code("activecode", 200)
        standby = code("standbycode", 429)
        perf = code("performancestandbycode", 473)
        sealed = code("sealedcode", 503)
        uninit = code("uninitcode", 501)
        code("drsecondarycode", 472)
        if as_bool(query.get("standbyok")):
            standby = active
        if as_bool(query.get("perfstandbyok")):
            perf = active
        if not self.initialized:
            status = uninit
        elif self.sealed:
            status = sealed
        elif self.performance_standby:
            status = perf
        elif self.standby:
            status = standby
        else:
            status = active
        if method == "HEAD":
            return Answer(status, b"")
        return _json_answer(status, self._health_body())

    def _seal_status_body(self):
        return {"type": "shamir", "initialized": self.initialized, "sealed": self.sealed,
                "t": 1, "n": 1, "progress": 0, "nonce": "", "version": VERSION,
                "build_date": "2024-02-28T17:07:34Z", "migration": False,
                "cluster_name": CLUSTER_NAME, "cluster_id": CLUSTER_ID,
                "recovery_seal": False, "storage_type": "inmem"}

    def _seal_status(self, method, _query, _data):
        if method != "GET":
            return _json_answer(405, {"errors": []})
        return _json_answer(200, self._seal_status_body())

    def _unseal(self, method, _query, data):
        if method not in ("PUT", "POST"):
            return _json_answer(405, {"errors": []})
        if as_bool(data.get("reset")):
            return _json_answer(200, self._seal_status_body())
        key = data.get("key") or ""
        if not key:
            raise bad_request("'key' must be specified in request body as JSON, or 'reset' set to true")
        raw = _decode_key(key)
        if raw is None:
            raise bad_request("'key' must be a valid hex or base64 string")
        if not self.sealed:                    # Core.Unseal: already unsealed is success
            return _json_answer(200, self._seal_status_body())
        if raw != base64.b64decode(self.unseal_key):
            raise bad_request("Unseal failed, invalid key")
        self.sealed = False
        self.log("unsealed")
        return _json_answer(200, self._seal_status_body())

    def _leader(self, method, _query, _data):
        if self.sealed:
            raise VaultError(503, [SEALED])
        return _json_answer(200, {"ha_enabled": False, "is_self": False, "active_time": "0001-01-01T00:00:00Z",
                                  "leader_address": "", "leader_cluster_address": "",
                                  "performance_standby": False, "performance_standby_last_remote_wal": 0})

    def _init_status(self, method, _query, _data):
        if method != "GET":
            return _json_answer(405, {"errors": []})
        return _json_answer(200, {"initialized": self.initialized})

    # -- other sys/ paths ----------------------------------------------------------
    def _sys(self, op, rel, data, tok, query):
        if rel == "seal":
            if op not in ("create", "update"):
                raise unsupported()
            self.sealed = True
            self.log("sealed")
            return None
        if rel == "mounts":
            if op != "read":
                raise unsupported()
            table = {p: m.describe() for p, m in sorted(self.mounts.items())}
            resp = Resp(table)
            resp.extra = table                  # old clients read the top level
            return resp
        if rel.startswith("mounts/"):
            path = rel[len("mounts/"):]
            if op in ("create", "update"):
                self.mount_engine(path, data.get("type", ""), data.get("options"))
                return None
            if op == "delete":
                self.mounts.pop(path.strip("/") + "/", None)
                return None
            raise unsupported()
        if rel.startswith("internal/ui/mounts/"):
            return self._ui_mount(rel[len("internal/ui/mounts/"):], tok)
        if rel == "auth":
            if op != "read":
                raise unsupported()
            return Resp({"%s" % p: m.describe() for p, m in sorted(self.auth_mounts.items())})
        if rel.startswith("auth/"):
            if op in ("create", "update"):
                self.enable_auth(rel[len("auth/"):], data.get("type", ""))
                return None
            if op == "delete":
                self.auth_mounts.pop(rel[len("auth/"):].strip("/") + "/", None)
                return None
            raise unsupported()
        if rel in ("policy", "policies/acl") and op in ("read", "list"):
            return self._policy("list", "", data)
        for prefix in ("policies/acl/", "policy/"):
            if rel.startswith(prefix) or rel == prefix.rstrip("/") + "/":
                return self._policy(op, rel[len(prefix):], data)
        raise VaultError(404, ['no handler for route "sys/%s". route entry not found.' % rel])

    def _policy(self, op, name, data):
        if not name:
            names = sorted(set(self.policies) | {"root"})
            return Resp({"keys": names, "policies": names})
        if op == "read":
            if name not in self.policies:
                raise not_found()
            src = self.policy_sources.get(name)
            return Resp({"name": name, "policy": src or json.dumps({"path": self.policies[name]}),
                         "rules": src or ""})
        if op in ("create", "update"):
            src = data.get("policy", data.get("rules"))
            if not src:
                raise bad_request("'policy' parameter not supplied or empty")
            self.set_policy(name, src)
            self.policy_sources[name] = src if isinstance(src, str) else json.dumps(src)
            return None
        if op == "delete":
            if name in ("default", "root"):
                raise bad_request('cannot delete "%s" policy' % name)
            self.policies.pop(name, None)
            self.policy_sources.pop(name, None)
            return None
        raise unsupported()

    def _ui_mount(self, path, tok):
        if tok is None:
            raise denied()
        mount, _rel = self._route(path)
        if mount is None or mount.path in ("sys/",):
            raise denied()
        if not self.acl_for(tok).touches_prefix(mount.path):
            raise denied()
        d = mount.describe()
        d["path"] = mount.path
        return Resp(d)

    # -- admin API (/__fake/...) ---------------------------------------------------
    def _admin(self, method, what, query, body):
        try:
            data = self._json_body(body)
        except VaultError as e:
            return _error_answer(e)
        try:
            return self._admin_route(method, what.rstrip("/"), query, data)
        except VaultError as e:
            return _error_answer(e)
        except (ValueError, TypeError, KeyError) as e:
            return _json_answer(400, {"errors": ["bad admin request: %s" % e]})

    def _admin_route(self, method, what, query, data):
        if what == "info" and method == "GET":
            info = {"root_token": self.root.id, "unseal_key": self.unseal_key,
                    "sealed": self.sealed, "version": VERSION}
            return _json_answer(200, info)
        if what == "seal" and method in ("POST", "PUT"):
            self.sealed = True
            return Answer(204)
        if what == "unseal" and method in ("POST", "PUT"):
            self.sealed = False
            return Answer(204)
        if what == "state" and method in ("POST", "PUT"):
            for k in ("initialized", "standby", "performance_standby", "sealed"):
                if k in data:
                    setattr(self, k, as_bool(data[k]))
            return Answer(204)
        if what == "faults":
            if method in ("POST", "PUT"):
                self.faults.append(Fault(data))
                return Answer(204)
            if method == "DELETE":
                self.faults.clear()
                return Answer(204)
            if method == "GET":
                return _json_answer(200, {"faults": [f.describe() for f in self.faults]})
        if what == "tokens" and method in ("POST", "PUT"):
            tok = self.tokens.create(data.get("policies") or [], data.get("ttl") and parse_duration(data["ttl"]),
                                     parse_duration(data.get("explicit_max_ttl")),
                                     as_bool(data.get("renewable"), True), int(data.get("num_uses", 0)),
                                     tid=data.get("id"),
                                     no_default_policy=as_bool(data.get("no_default_policy")))
            return _json_answer(200, {"token": tok.id, "accessor": tok.accessor,
                                      "policies": tok.policies, "ttl": tok.ttl_left()})
        if what == "tokens/expire" and method in ("POST", "PUT"):
            tok = (self.tokens.lookup(data.get("token")) if data.get("token")
                   else self.tokens.by_accessor(data.get("accessor") or ""))
            if tok is None:
                return _json_answer(404, {"errors": ["no such token"]})
            self.tokens.expire_now(tok)
            return Answer(204)
        if what == "requests":
            if method == "DELETE":
                self.request_log.clear()
                self.counts.clear()
                return Answer(204)
            if method == "GET":
                prefix = query.get("path_prefix", "")
                entries = [e for e in self.request_log if e["path"].startswith(prefix)]
                counts = {p: n for p, n in sorted(self.counts.items()) if p.startswith(prefix)}
                return _json_answer(200, {"requests": entries, "counts": counts})
        if what == "config" and method in ("POST", "PUT"):
            self.apply_config(data)
            return Answer(204)
        return _json_answer(404, {"errors": ["no admin endpoint %s %s" % (method, what)]})

    # -- configuration (--config FILE or POST /__fake/config) ------------------------
    def _root_call(self, method, vpath, body):
        entry = {"path": vpath}
        ans = None
        try:
            ans = self._handle(method, vpath, {}, {"Content-Type": "application/json"},
                               json.dumps(body or {}).encode(), self.root.id, entry)
        except VaultError as e:
            raise ValueError("config: %s %s: %s" % (method, vpath, e.errors))
        if ans.status >= 400:
            raise ValueError("config: %s %s: %s" % (method, vpath, ans.body.decode()))
        return ans

    def apply_config(self, cfg):
        """Apply a config document; see the header of tests/fakes/vault."""
        if not isinstance(cfg, dict):
            raise ValueError("config must be a JSON object")
        unknown = set(cfg) - CONFIG_KEYS
        if unknown:
            raise ValueError("config: unknown keys %s (known: %s)" % (sorted(unknown), sorted(CONFIG_KEYS)))
        for path, spec in (cfg.get("mounts") or {}).items():
            spec = dict(spec)
            opts = spec.get("options") or {}
            if "version" in spec:
                opts = {"version": str(spec["version"])}
            self.mount_engine(path, spec.get("type", "kv"), opts)
        for name, src in (cfg.get("policies") or {}).items():
            self._root_call("PUT", "sys/policies/acl/" + name, {"policy": src})
        for mount, kcfg in (cfg.get("kubernetes") or {}).items():
            mount = mount.strip("/")
            if mount + "/" not in self.auth_mounts:
                self.enable_auth(mount, "kubernetes")
            if "config" in kcfg:
                self._root_call("POST", "auth/%s/config" % mount, kcfg["config"])
            for role, rspec in (kcfg.get("roles") or {}).items():
                self._root_call("POST", "auth/%s/role/%s" % (mount, role), rspec)
        for mount, roles in (cfg.get("pki_roles") or {}).items():
            for role, rspec in roles.items():
                self._root_call("POST", "%s/roles/%s" % (mount.strip("/"), role), rspec)
        for path, value in (cfg.get("kv") or {}).items():
            mount, rel = self._route(path)
            if mount is None or not isinstance(mount.backend, (KVv1, KVv2)):
                raise ValueError("config: kv path %s is not on a KV mount" % path)
            if isinstance(mount.backend, KVv2):
                self._root_call("POST", mount.path + "data/" + rel, {"data": value})
            else:
                self._root_call("POST", path, value)
        for spec in cfg.get("tokens") or []:
            self.tokens.create(spec.get("policies") or [], parse_duration(spec.get("ttl")) or None,
                               parse_duration(spec.get("explicit_max_ttl")),
                               as_bool(spec.get("renewable"), True), int(spec.get("num_uses", 0)),
                               tid=spec.get("id"))
        for req in cfg.get("requests") or []:
            self._root_call(req.get("method", "POST").upper(), req["path"], req.get("body"))

