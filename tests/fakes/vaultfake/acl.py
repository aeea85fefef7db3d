"""ACL policies for the Vault stand-in: HCL/JSON parsing and path matching.

Supported policy syntax (the subset real policies use):
    path "secret/data/ssl/*" { capabilities = ["read", "list"] }
    path "secret/+/teamb"    { capabilities = ["deny"] }
    path "old/*"             { policy = "read" }          # legacy form
and the JSON form {"path": {"<glob>": {"capabilities": [...]}}}.

Matching follows the documented priority rules (docs/concepts/policies):
an exact path wins; otherwise, among matching globs, the one whose first
wildcard comes later, that does not end in '*', with fewer '+' segments,
that is longer, then lexicographically larger. Rules for the same path from
several policies are merged; 'deny' beats everything.
"""

import json
import re

from .util import VaultError

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny")
ALL_CAPABILITIES = frozenset(CAPABILITIES) - {"deny"}
_LEGACY = {
    "deny": ["deny"],
    "read": ["read", "list"],
    "write": ["create", "read", "update", "delete", "list"],
    "sudo": ["create", "read", "update", "delete", "list", "sudo"],
}

_BLOCK = re.compile(r'path\s+"([^"]*)"\s*\{([^{}]*)\}', re.S)
_CAPS = re.compile(r'capabilities\s*=\s*\[([^\]]*)\]', re.S)
_POLICY = re.compile(r'policy\s*=\s*"(\w+)"')
_STRING = re.compile(r'"([^"]*)"')

# The default policy every non-root token carries (abridged to the paths a
# client of this project touches).
DEFAULT_POLICY = {
    "auth/token/lookup-self": ["read"],
    "auth/token/renew-self": ["update"],
    "auth/token/revoke-self": ["update"],
    "sys/capabilities-self": ["update"],
    "sys/internal/ui/resultant-acl": ["read"],
    "cubbyhole/*": ["create", "read", "update", "delete", "list"],
}


def _strip_comments(text):
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") or s.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out)


def _check_caps(path, caps):
    for c in caps:
        if c not in CAPABILITIES:
            raise VaultError(400, ['failed to parse policy: path "%s": invalid capability "%s"' % (path, c)])
    return caps


def parse_policy(source):
    """Parse HCL text, JSON text or a dict into {path_glob: [capabilities]}.

    Raises VaultError 400 ("failed to parse policy: ...") on bad input.
    """
    if isinstance(source, dict):
        doc = source
    else:
        text = str(source)
        if text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError as e:
                raise VaultError(400, ["failed to parse policy: %s" % e])
        else:
            return _parse_hcl(text)
    rules = {}
    paths = doc.get("path", {})
    if not isinstance(paths, dict):
        raise VaultError(400, ["failed to parse policy: 'path' must be an object"])
    for p, body in paths.items():
        if isinstance(body, list):        # {"path": {"x": ["read"]}} shorthand
            caps = body
        elif isinstance(body, dict) and "capabilities" in body:
            caps = body["capabilities"]
        elif isinstance(body, dict) and "policy" in body:
            caps = _LEGACY.get(body["policy"])
            if caps is None:
                raise VaultError(400, ['failed to parse policy: path "%s": invalid policy "%s"' % (p, body["policy"])])
        else:
            raise VaultError(400, ['failed to parse policy: path "%s": missing capabilities' % p])
        rules[p] = _check_caps(p, [str(c) for c in caps])
    return rules


def _parse_hcl(text):
    text = _strip_comments(text)
    rules = {}
    rest = _BLOCK.sub("", text)
    if rest.strip():
        raise VaultError(400, ["failed to parse policy: unexpected text %r" % rest.strip()[:40]])
    for m in _BLOCK.finditer(text):
        path, body = m.group(1), m.group(2)
        cm = _CAPS.search(body)
        if cm:
            caps = _STRING.findall(cm.group(1))
        else:
            pm = _POLICY.search(body)
            if not pm or pm.group(1) not in _LEGACY:
                raise VaultError(400, ['failed to parse policy: path "%s": missing capabilities' % path])
            caps = _LEGACY[pm.group(1)]
        rules[path] = _check_caps(path, caps)
    return rules


def _glob_regex(pattern):
    parts = []
    segs = pattern.split("/")
    for i, seg in enumerate(segs):
        if seg == "+":
            parts.append("[^/]+")
        elif i == len(segs) - 1 and seg.endswith("*"):
            parts.append(re.escape(seg[:-1]) + ".*")
        else:
            parts.append(re.escape(seg))
    return re.compile("/".join(parts) + r"\Z")


def _is_glob(pattern):
    return pattern.endswith("*") or "+" in pattern.split("/")


def _priority(pattern):
    firsts = [i for i in (pattern.find("+"), pattern.find("*")) if i >= 0]
    first = min(firsts) if firsts else len(pattern)
    plus = pattern.split("/").count("+")
    return (first, 0 if pattern.endswith("*") else 1, -plus, len(pattern), pattern)


class ACL:
    """The merged rules of a token's policies; `root` grants everything."""

    def __init__(self, rule_sets, root=False):
        self.root = root
        self.rules = {}
        for rules in rule_sets:
            for p, caps in rules.items():
                self.rules.setdefault(p, set()).update(caps)
        self._globs = [(p, _glob_regex(p)) for p in self.rules if _is_glob(p)]

    def capabilities(self, path):
        """The set of capabilities on `path` ("deny" alone if denied)."""
        if self.root:
            return set(ALL_CAPABILITIES)
        caps = self.rules.get(path)
        if caps is None:
            matches = [p for p, rx in self._globs if rx.match(path)]
            if not matches:
                return set()
            caps = self.rules[max(matches, key=_priority)]
        if "deny" in caps:
            return {"deny"}
        return set(caps)

    def allows(self, path, capability):
        return capability in self.capabilities(path)

    def touches_prefix(self, prefix):
        """True if any rule could grant something under `prefix` (ui/mounts)."""
        if self.root:
            return True
        for p, caps in self.rules.items():
            if "deny" in caps or not caps:
                continue
            stem = p.rstrip("*").split("+")[0]
            if stem.startswith(prefix) or prefix.startswith(stem):
                return True
        return False
