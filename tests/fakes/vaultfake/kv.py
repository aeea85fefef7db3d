"""KV secrets engines of the Vault stand-in: version 1 and version 2.

Shapes follow api-docs/secret/kv/kv-v1.mdx and kv-v2.mdx and the plugin's
path_data.go: a missing key is 404 {"errors":[]}; a deleted or destroyed
version is 404 WITH a full envelope (data.data null, metadata filled); a
v1-style path on a v2 mount is 404 with the "Invalid path" warning.
Not implemented: delete_version_after expiry, subkeys depth, secret/config
delete_version_after enforcement.
"""

import copy
import time

from .util import (Resp, as_bool, bad_request, not_found,
                   parse_duration, rfc3339, unsupported)

V1_DEFAULT_LEASE = 768 * 3600
V2_DEFAULT_MAX_VERSIONS = 10
INVALID_V2_PATH = ("Invalid path for a versioned K/V secrets engine. See the API docs "
                   "for the appropriate API endpoints to use. If using the Vault CLI, "
                   "use 'vault kv get' for this operation.")


def list_keys(names, prefix):
    """Keys directly under `prefix` with folders suffixed '/', sorted."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    keys = set()
    for name in names:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        if not rest:
            continue
        head, sep, _ = rest.partition("/")
        keys.add(head + sep)
    return sorted(keys)


def _int_list(value):
    """A comma-int-slice field: 3, [1, 2] or "1,2"; 400 on anything else."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else (value if isinstance(value, list) else [value])
    try:
        return [int(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise bad_request("error converting input versions: %r is not a list of integers" % (value,))


def _check_key(key):
    if not key or key.endswith("/"):
        raise not_found()


class KVv1:
    type = "kv"

    def __init__(self):
        self.items = {}
        self.options = {"version": "1"}

    def exists(self, path):
        return path in self.items

    def unauthenticated(self, path, op):
        return False

    def handle(self, req):
        if req.op == "list":
            keys = list_keys(self.items, req.path)
            if not keys:
                raise not_found()
            return Resp({"keys": keys})
        if req.op == "read":
            _check_key(req.path)
            item = self.items.get(req.path)
            if item is None:
                raise not_found()
            lease = V1_DEFAULT_LEASE
            if "ttl" in item:
                lease = parse_duration(item["ttl"])
            elif "lease" in item:
                lease = parse_duration(item["lease"])
            return Resp(copy.deepcopy(item), lease_duration=lease)
        if req.op in ("create", "update"):
            if not req.path or req.path.endswith("/"):
                raise bad_request("missing data fields")
            if not req.data:
                raise bad_request("missing data fields")
            self.items[req.path] = copy.deepcopy(req.data)
            return None
        if req.op == "delete":
            self.items.pop(req.path, None)
            return None
        raise unsupported()


class _Secret:
    def __init__(self):
        self.versions = {}          # n -> {"data", "created", "deleted", "destroyed"}
        self.current = 0
        self.oldest = 0
        self.max_versions = 0
        self.cas_required = False
        self.custom_metadata = None
        self.created = time.time()
        self.updated = self.created

    def version_meta(self, n):
        v = self.versions[n]
        return {
            "created_time": rfc3339(v["created"]),
            "custom_metadata": self.custom_metadata,
            "deletion_time": rfc3339(v["deleted"]) if v["deleted"] else "",
            "destroyed": v["destroyed"],
            "version": n,
        }


class KVv2:
    type = "kv"

    def __init__(self):
        self.secrets = {}
        self.options = {"version": "2"}
        self.max_versions = 0
        self.cas_required = False

    def unauthenticated(self, path, op):
        return False

    def exists(self, path):
        section, _, key = path.partition("/")
        if section in ("data", "metadata"):
            return key in self.secrets
        return None

    def handle(self, req):
        section, slash, key = req.path.partition("/")
        if section == "config" and not slash:
            return self._config(req)
        handler = {
            "data": self._data, "metadata": self._metadata,
            "delete": self._versions_op, "undelete": self._versions_op,
            "destroy": self._versions_op, "subkeys": self._subkeys,
        }.get(section)
        if handler is None or not slash:
            return Resp(None, status=404, warnings=[INVALID_V2_PATH])
        return handler(req, section, key)

    # -- config ------------------------------------------------------------
    def _config(self, req):
        if req.op == "read":
            return Resp({"cas_required": self.cas_required,
                         "delete_version_after": "0s",
                         "max_versions": self.max_versions})
        if req.op in ("create", "update"):
            if "max_versions" in req.data:
                self.max_versions = int(req.data["max_versions"])
            if "cas_required" in req.data:
                self.cas_required = as_bool(req.data["cas_required"])
            return None
        raise unsupported()

    def _limit(self, sec):
        return sec.max_versions or self.max_versions or V2_DEFAULT_MAX_VERSIONS

    # -- data/ ---------------------------------------------------------------
    def _data(self, req, _section, key):
        if req.op == "read":
            return self._read(req, key)
        if req.op in ("create", "update"):
            return self._write(req, key)
        if req.op == "patch":
            return self._patch(req, key)
        if req.op == "delete":
            sec = self.secrets.get(key)
            if sec and sec.current in sec.versions:
                v = sec.versions[sec.current]
                if not v["deleted"] and not v["destroyed"]:
                    v["deleted"] = time.time()
            return None
        raise unsupported()

    def _read(self, req, key):
        _check_key(key)
        sec = self.secrets.get(key)
        if sec is None:
            raise not_found()
        try:
            n = int(req.query.get("version", "0") or 0)
        except ValueError:
            raise bad_request("version must be an integer")
        if n == 0:
            n = sec.current
        if n not in sec.versions:
            raise not_found()
        v = sec.versions[n]
        meta = sec.version_meta(n)
        if v["deleted"] or v["destroyed"]:
            return Resp({"data": None, "metadata": meta}, status=404)
        return Resp({"data": copy.deepcopy(v["data"]), "metadata": meta})

    def _cas_check(self, req, sec):
        options = req.data.get("options") or {}
        cas = options.get("cas")
        required = self.cas_required or (sec is not None and sec.cas_required)
        if cas is None:
            if required:
                raise bad_request("check-and-set parameter required for this call")
            return
        current = sec.current if sec else 0
        if int(cas) != current:
            raise bad_request("check-and-set parameter did not match the current version")

    def _store(self, key, data):
        sec = self.secrets.get(key)
        if sec is None:
            sec = self.secrets[key] = _Secret()
        sec.current += 1
        now = time.time()
        sec.versions[sec.current] = {"data": data, "created": now,
                                     "deleted": 0, "destroyed": False}
        sec.updated = now
        if sec.oldest == 0:
            sec.oldest = 1
        limit = self._limit(sec)
        while len(sec.versions) > limit:
            del sec.versions[min(sec.versions)]
        sec.oldest = min(sec.versions)
        return Resp(sec.version_meta(sec.current))

    def _write(self, req, key):
        if not key or key.endswith("/"):
            raise bad_request("no data provided")
        data = req.data.get("data")
        if data is None:
            raise bad_request("no data provided")
        if not isinstance(data, dict):
            raise bad_request("data must be an object")
        self._cas_check(req, self.secrets.get(key))
        return self._store(key, copy.deepcopy(data))

    def _patch(self, req, key):
        sec = self.secrets.get(key)
        if sec is None or sec.current not in sec.versions:
            raise not_found()
        v = sec.versions[sec.current]
        if v["deleted"] or v["destroyed"]:
            return Resp({"data": None, "metadata": sec.version_meta(sec.current)}, status=404)
        patch = req.data.get("data")
        if not isinstance(patch, dict):
            raise bad_request("no data provided")
        self._cas_check(req, sec)
        merged = copy.deepcopy(v["data"])
        for k, val in patch.items():
            if val is None:
                merged.pop(k, None)
            else:
                merged[k] = val
        return self._store(key, merged)

    # -- metadata/ -----------------------------------------------------------
    def _metadata(self, req, _section, key):
        if req.op == "list":
            keys = list_keys(self.secrets, key)
            if not keys:
                raise not_found()
            return Resp({"keys": keys})
        if req.op == "read":
            _check_key(key)
            sec = self.secrets.get(key)
            if sec is None:
                raise not_found()
            versions = {}
            for n in sorted(sec.versions):
                m = sec.version_meta(n)
                versions[str(n)] = {k: m[k] for k in ("created_time", "deletion_time", "destroyed")}
            return Resp({
                "cas_required": sec.cas_required,
                "created_time": rfc3339(sec.created),
                "current_version": sec.current,
                "custom_metadata": sec.custom_metadata,
                "delete_version_after": "0s",
                "max_versions": sec.max_versions,
                "oldest_version": sec.oldest,
                "updated_time": rfc3339(sec.updated),
                "versions": versions,
            })
        if req.op in ("create", "update"):
            if not key:
                raise bad_request("missing path")
            sec = self.secrets.get(key)
            if sec is None:
                sec = self.secrets[key] = _Secret()
            d = req.data
            if "max_versions" in d:
                sec.max_versions = int(d["max_versions"])
            if "cas_required" in d:
                sec.cas_required = as_bool(d["cas_required"])
            if "custom_metadata" in d:
                sec.custom_metadata = d["custom_metadata"]
            sec.updated = time.time()
            return None
        if req.op == "delete":
            self.secrets.pop(key, None)
            return None
        raise unsupported()

    # -- delete/ undelete/ destroy/ -------------------------------------------
    def _versions_op(self, req, section, key):
        if req.op not in ("create", "update"):
            raise unsupported()
        versions = _int_list(req.data.get("versions"))
        if not versions:
            raise bad_request("no version number provided")
        sec = self.secrets.get(key)
        if sec is None:
            return None
        for n in versions:
            v = sec.versions.get(n)
            if v is None or v["destroyed"]:
                continue
            if section == "delete" and not v["deleted"]:
                v["deleted"] = time.time()
            elif section == "undelete":
                v["deleted"] = 0
            elif section == "destroy":
                v["destroyed"] = True
                v["data"] = None
        return None

    def _subkeys(self, req, _section, key):
        if req.op != "read":
            raise unsupported()
        resp = self._read(req, key)
        if resp.status != 200:
            return resp

        def shape(obj):
            if isinstance(obj, dict):
                return {k: shape(v) for k, v in obj.items()}
            return None
        return Resp({"subkeys": shape(resp.data["data"]), "metadata": resp.data["metadata"]})
