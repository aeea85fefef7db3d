"""The three PATCH flavours the real server accepts for JSON bodies:

- JSON merge patch (RFC 7386, application/merge-patch+json);
- JSON patch (RFC 6902, application/json-patch+json);
- strategic merge patch (application/strategic-merge-patch+json), an
  approximation of apimachinery's strategicpatch for the types served here:
  maps merge recursively, null deletes a key, lists are replaced unless the
  field has a patch merge key (then elements are merged by that key and
  "$patch: delete" elements remove one), primitive "merge" lists (finalizers)
  are unions.  The directives $patch (replace/delete/merge), $retainKeys,
  $setElementOrder/<field> and $deleteFromPrimitiveList/<field> are honoured.
"""

import copy

from .errors import ApiError, bad_request

# Strategic-merge schema: dotted field path -> merge key, or "set" for a
# primitive list merged as a union.  Anything else is replaced atomically.
COMMON_SMP = {"metadata.ownerReferences": "uid", "metadata.finalizers": "set"}
SMP_SCHEMAS = {
    "Service": {"spec.ports": "port", "status.conditions": "type"},
    "Namespace": {"status.conditions": "type", "spec.finalizers": "set"},
    "Ingress": {},
    "IngressClass": {},
    "Secret": {},
    "Event": {},
    "EndpointSlice": {},
    "Lease": {},
}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


class JsonPatchError(ApiError):
    def __init__(self, msg):
        super().__init__(422, "Invalid", msg)


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchError(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts, path):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise JsonPatchError(
                    f"doc is missing path: \"{path}\": missing value")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise JsonPatchError(f"doc is missing path: \"{path}\"")
        else:
            raise JsonPatchError(f"doc is missing path: \"{path}\"")
    return cur


def _get(doc, path):
    return _walk(doc, _pointer(path), path)


def _remove(doc, path):
    parts = _pointer(path)
    if not parts:
        raise JsonPatchError("cannot remove the document root")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JsonPatchError(f"Unable to remove nonexistent key: {last}: "
                                 "missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise JsonPatchError(f"Unable to remove nonexistent index: {path}")
    raise JsonPatchError(f"doc is missing path: \"{path}\"")


def _add(doc, path, value, replace=False):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise JsonPatchError(f"replace operation does not apply: doc is "
                                 f"missing key: {path}: missing value")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError:
                raise JsonPatchError(f"invalid index in \"{path}\"")
            if replace:
                if not 0 <= idx < len(parent):
                    raise JsonPatchError(f"replace operation does not apply: "
                                         f"doc is missing key: {path}")
                parent[idx] = value
            else:
                if not 0 <= idx <= len(parent):
                    raise JsonPatchError(f"Unable to access invalid index: "
                                         f"{idx}: invalid index referenced")
                parent.insert(idx, value)
    else:
        raise JsonPatchError(f"doc is missing path: \"{path}\"")
    return doc


def json_patch(target, ops):
    """RFC 6902."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of "
                          "type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise bad_request("invalid JSON patch operation")
        kind, path = op["op"], op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            value = copy.deepcopy(_get(doc, op.get("from", "")))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise JsonPatchError(f"testing value {path} failed: test "
                                     "failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


_DELETE = object()


def _strip(v):
    """Remove SMP directives from a value inserted wholesale."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items()
                if not k.startswith("$") and x is not None}
    if isinstance(v, list):
        return [_strip(x) for x in v
                if not (isinstance(x, dict) and "$patch" in x)]
    return v


def _smp_list(orig, patch, key):
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return _strip(patch)
    if key == "set":
        out = list(orig) if isinstance(orig, list) else []
        out.extend(copy.deepcopy(e) for e in patch if e not in out)
        return out
    if key is None or not isinstance(orig, list):
        return _strip(patch)
    out = copy.deepcopy(orig)
    for elem in patch:
        if not isinstance(elem, dict) or key not in elem:
            raise bad_request(f"map: {elem} does not contain declared merge "
                              f"key: {key}")
        idx = next((i for i, e in enumerate(out)
                    if isinstance(e, dict) and e.get(key) == elem[key]), None)
        if elem.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(_strip(elem))
        else:
            out[idx] = _smp_map(out[idx], elem, None, {})
    return out


def _reorder(lst, order, key):
    if not isinstance(lst, list):
        return lst

    def ident(e):
        return e.get(key) if key not in (None, "set") and isinstance(e, dict) \
            else e
    wanted = [ident(o) if isinstance(o, dict) else o for o in order]
    ranked = [e for w in wanted for e in lst if ident(e) == w]
    return ranked + [e for e in lst if e not in ranked]


def _smp_map(orig, patch, path, schema):
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return _DELETE
    result = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            if not isinstance(v, list):
                raise bad_request(f"{k} must be a list")
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            if not isinstance(v, list):
                raise bad_request(f"{k} must be a list")
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [e for e in result[field] if e not in v]
            continue
        sub = f"{path}.{k}" if path else k
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            merged = _smp_map(result.get(k), v, sub, schema)
            if merged is _DELETE:
                result.pop(k, None)
            else:
                result[k] = merged
        elif isinstance(v, list):
            result[k] = _smp_list(result.get(k), v, schema.get(sub))
        else:
            result[k] = v
    if "$retainKeys" in patch and \
            not isinstance(patch["$retainKeys"], list):
        raise bad_request("$retainKeys must be a list")
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    for field, order in orders.items():
        if field in result:
            sub = f"{path}.{field}" if path else field
            result[field] = _reorder(result[field], order, schema.get(sub))
    return result


def strategic_merge_patch(target, patch, kind):
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    schema = dict(COMMON_SMP)
    schema.update(SMP_SCHEMAS.get(kind, {}))
    result = _smp_map(target, patch, "", schema)
    return {} if result is _DELETE else result
