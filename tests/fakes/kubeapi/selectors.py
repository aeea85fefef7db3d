"""Label and field selectors with the grammar of apimachinery's
pkg/labels/selector.go and pkg/fields/selector.go.

Label selector: comma-separated requirements, each one of
  key, !key, key=v, key==v, key!=v, key in (a,b), key notin (a,b), key>N, key<N
Field selector: comma-separated key=v, key==v, key!=v terms."""

import re

from .errors import bad_request

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _check_key(key):
    if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(
            f"unable to parse requirement: <nil>: Invalid value: \"{key}\": "
            "name part must consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character")


def _check_value(value):
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request(
            f"unable to parse requirement: values[0][key]: Invalid value: "
            f"\"{value}\": a valid label must be an empty string or consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character")


class LabelSelector:
    """A parsed label selector; match(labels_dict) -> bool."""

    def __init__(self, text):
        self.text = text or ""
        self.reqs = self._parse(_tokens(self.text)) if self.text.strip() else []

    @staticmethod
    def _parse(toks):
        reqs, i = [], 0

        def need(cond, what):
            if not cond:
                raise bad_request(f"unable to parse requirement: found "
                                  f"'{toks[i] if i < len(toks) else ''}', "
                                  f"expected: {what}")
        while i < len(toks):
            if toks[i] == "!":
                i += 1
                need(i < len(toks), "identifier after '!'")
                _check_key(toks[i])
                reqs.append(("!", toks[i], None))
                i += 1
            else:
                key = toks[i]
                need(key not in ("(", ")", ",", "=", "==", "!=", "<", ">"),
                     "identifier")
                _check_key(key)
                i += 1
                if i >= len(toks) or toks[i] == ",":
                    reqs.append(("exists", key, None))
                elif toks[i] in ("=", "==", "!="):
                    op = "!=" if toks[i] == "!=" else "="
                    i += 1
                    value = ""
                    if i < len(toks) and toks[i] != ",":
                        value = toks[i]
                        i += 1
                    _check_value(value)
                    reqs.append((op, key, value))
                elif toks[i] in ("<", ">"):
                    op = toks[i]
                    i += 1
                    need(i < len(toks), "integer value")
                    try:
                        num = int(toks[i])
                    except ValueError:
                        raise bad_request(
                            "unable to parse requirement: for 'Gt', 'Lt' "
                            "operators, the value must be an integer")
                    reqs.append((op, key, num))
                    i += 1
                elif toks[i] in ("in", "notin"):
                    op = toks[i]
                    i += 1
                    need(i < len(toks) and toks[i] == "(", "'('")
                    i += 1
                    values = set()
                    while i < len(toks) and toks[i] != ")":
                        if toks[i] != ",":
                            _check_value(toks[i])
                            values.add(toks[i])
                        i += 1
                    need(i < len(toks), "')'")
                    i += 1
                    reqs.append((op, key, values))
                else:
                    need(False, "'=', '!=', '==', 'in', notin'")
            if i < len(toks):
                need(toks[i] == ",", "','")
                i += 1
        return reqs

    def match(self, labels):
        labels = labels or {}
        for op, key, val in self.reqs:
            has = key in labels
            cur = labels.get(key)
            if op == "exists" and not has:
                return False
            if op == "!" and has:
                return False
            if op == "=" and cur != val:
                return False
            if op == "!=" and has and cur == val:
                return False
            if op == "in" and (not has or cur not in val):
                return False
            if op == "notin" and has and cur in val:
                return False
            if op in ("<", ">"):
                try:
                    n = int(cur)
                except (TypeError, ValueError):
                    return False
                if (op == "<" and not n < val) or (op == ">" and not n > val):
                    return False
        return True


def field_value(obj, path):
    if path == "source" and obj.get("kind") == "Event":
        # The Event field "source" is source.component, or the
        # reportingComponent when that is empty (ToSelectableFields).
        src = obj.get("source")
        comp = src.get("component") if isinstance(src, dict) else None
        return comp or obj.get("reportingComponent") or ""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class FieldSelector:
    """A parsed field selector restricted to the fields a resource supports."""

    def __init__(self, text, res):
        self.terms = []
        text = text or ""
        for part in _split_unescaped(text):
            if not part:
                continue
            m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
            if not m:
                raise bad_request(f"invalid selector: '{text}'; can't "
                                  f"understand '{part}'")
            key, op, value = m.group(1), m.group(2), _unescape(m.group(3))
            if key not in res.field_selectors:
                if res.crd:
                    raise bad_request(
                        f'"{key}" is not a known field selector: only '
                        '"metadata.name", "metadata.namespace"')
                raise bad_request(f"field label not supported: {key}")
            self.terms.append((key, op != "!=", value))

    def match(self, obj):
        for key, eq, value in self.terms:
            if (field_value(obj, key) == value) != eq:
                return False
        return True


def _split_unescaped(text):
    out, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur += "\\" + ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _unescape(v):
    return re.sub(r"\\(.)", r"\1", v)
