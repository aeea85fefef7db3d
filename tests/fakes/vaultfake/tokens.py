"""Token store of the Vault stand-in (auth/token/*), after api-docs/auth/token.

A token has policies, a TTL (0 = never expires, like the root token), an
optional explicit max TTL, renewability and a use count. An expired or
used-up token is gone: any request with it is 403 permission denied.
"""

import time

from .util import (SYSTEM_DEFAULT_TTL, SYSTEM_MAX_TTL, VaultError, as_bool,
                   as_list, bad_request, go_duration, new_accessor, new_token_value,
                   parse_duration, rfc3339)


class Token:
    def __init__(self, tid, policies, ttl, explicit_max_ttl=0, renewable=True,
                 num_uses=0, display_name="token", meta=None,
                 path="auth/token/create", orphan=False):
        self.id = tid
        self.accessor = new_accessor()
        self.policies = sorted(set(policies))
        self.creation_time = time.time()
        self.creation_ttl = ttl
        self.explicit_max_ttl = explicit_max_ttl
        self.expire_at = self.creation_time + ttl if ttl else None
        self.renewable = renewable and ttl > 0
        self.num_uses = num_uses
        self.display_name = display_name
        self.meta = meta
        self.path = path
        self.orphan = orphan

    @property
    def is_root(self):
        return "root" in self.policies

    def ttl_left(self, at=None):
        if self.expire_at is None:
            return 0
        return max(0, int(round(self.expire_at - (at or time.time()))))

    def max_expiry(self):
        """Latest moment a renewal may reach (explicit max or system max)."""
        if self.creation_ttl == 0:
            return None
        cap = self.explicit_max_ttl or SYSTEM_MAX_TTL
        return self.creation_time + cap

    def lookup_data(self):
        return {
            "accessor": self.accessor,
            "creation_time": int(self.creation_time),
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": "",
            "expire_time": rfc3339(self.expire_at) if self.expire_at else None,
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": self.id,
            "issue_time": rfc3339(self.creation_time),
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": list(self.policies),
            "renewable": self.renewable,
            "ttl": self.ttl_left(),
            "type": "service",
        }

    def auth_block(self, warnings_ttl=None):
        return {
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": list(self.policies),
            "token_policies": list(self.policies),
            "identity_policies": None,
            "metadata": self.meta,
            "lease_duration": self.ttl_left() if warnings_ttl is None else warnings_ttl,
            "renewable": self.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": None,
            "num_uses": self.num_uses,
        }


class TokenStore:
    def __init__(self):
        self.by_id = {}

    def add(self, token):
        self.by_id[token.id] = token
        return token

    def create(self, policies, ttl=None, explicit_max_ttl=0, renewable=True,
               num_uses=0, display_name="token", meta=None, tid=None,
               no_default_policy=False, path="auth/token/create", orphan=False):
        pols = set(policies)
        if "root" not in pols and not no_default_policy:
            pols.add("default")
        if ttl is None or ttl == 0:
            ttl = 0 if "root" in pols else SYSTEM_DEFAULT_TTL
        if explicit_max_ttl and ttl > explicit_max_ttl:
            ttl = explicit_max_ttl
        tok = Token(tid or new_token_value(), pols, ttl, explicit_max_ttl,
                    renewable, num_uses, display_name, meta, path, orphan)
        return self.add(tok)

    def lookup(self, tid):
        """The live token for `tid`, or None (expired ones are revoked)."""
        if not tid:
            return None
        tok = self.by_id.get(tid)
        if tok is None:
            return None
        if tok.expire_at is not None and time.time() >= tok.expire_at:
            del self.by_id[tid]
            return None
        return tok

    def by_accessor(self, accessor):
        for tok in self.by_id.values():
            if tok.accessor == accessor:
                return tok
        return None

    def revoke(self, tok):
        self.by_id.pop(tok.id, None)

    def use(self, tok):
        """Count one use of a limited-use token; revoke at the last one."""
        if tok.num_uses > 0:
            tok.num_uses -= 1
            if tok.num_uses == 0:
                self.revoke(tok)

    def expire_now(self, tok):
        tok.expire_at = time.time() - 1

    def renew(self, tok, increment):
        """Renew `tok`; returns (new ttl, warnings). Errors as the server."""
        if not tok.renewable:
            raise bad_request("lease is not renewable")
        want = increment if increment else tok.creation_ttl
        now = time.time()
        warnings = []
        cap = tok.max_expiry()
        if cap is not None and now + want > cap:
            capped = max(0, int(cap - now))
            warnings.append('TTL of "%s" exceeded the effective max_ttl of "%s"; '
                            'TTL value is capped accordingly' % (go_duration(want), go_duration(capped)))
            want = capped
        tok.expire_at = now + want
        return want, warnings


def create_request(store, parent, body, orphan=False):
    """auth/token/create: validate the body and make a child token."""
    policies = as_list(body.get("policies"))
    if not policies:
        policies = [p for p in parent.policies if p != "default"] or ["default"]
    if not parent.is_root:
        extra = set(policies) - set(parent.policies) - {"default"}
        if extra:
            raise bad_request("child policies must be subset of parent")
    ttl = parse_duration(body.get("ttl"), "ttl")
    explicit = parse_duration(body.get("explicit_max_ttl"), "explicit_max_ttl")
    try:
        num_uses = int(body.get("num_uses", 0) or 0)
    except (TypeError, ValueError):
        raise bad_request("error converting input num_uses: %r is not an integer" % (body.get("num_uses"),))
    if num_uses < 0:
        raise bad_request("number of uses cannot be negative")
    if "root" in policies and not parent.is_root:
        raise bad_request("root tokens may not be created without parent token being root")
    if ttl == 0 and "root" not in policies:
        ttl = None
    try:
        tok = store.create(policies, ttl, explicit,
                           as_bool(body.get("renewable"), True), num_uses,
                           "token-" + body["display_name"] if body.get("display_name") else "token",
                           body.get("meta"), body.get("id"),
                           as_bool(body.get("no_default_policy")),
                           "auth/token/create-orphan" if orphan else "auth/token/create",
                           orphan or as_bool(body.get("no_parent")))
    except TypeError as e:
        raise VaultError(400, [str(e)])
    return tok


class TokenAuth:
    """The auth/token/ mount: create, lookup(-self), renew(-self), revoke(-self)."""

    type = "token"

    def __init__(self, store):
        self.store = store
        self.options = None

    def exists(self, path):
        return None

    def unauthenticated(self, path, op):
        return False

    def _target(self, req):
        tid = req.data.get("token") or ""
        if not tid:
            raise bad_request("missing token")
        tok = self.store.lookup(tid)
        if tok is None:
            raise bad_request("bad token")
        return tok

    def handle(self, req):
        from .util import Resp, unsupported
        p, op, me = req.path, req.op, req.token
        writes = ("create", "update")
        if p in ("create", "create-orphan") and op in writes:
            tok = create_request(self.store, me, req.data, orphan=(p == "create-orphan"))
            return Resp(None, auth=tok.auth_block())
        if p == "lookup-self" and op in ("read", "update"):
            return Resp(me.lookup_data())
        if p == "lookup" and op in writes:
            return Resp(self._target(req).lookup_data())
        if p == "lookup-accessor" and op in writes:
            tok = self.store.by_accessor(req.data.get("accessor") or "")
            if tok is None:
                raise bad_request("invalid accessor")
            data = tok.lookup_data()
            data["id"] = ""
            return Resp(data)
        if p in ("renew-self", "renew") and op in writes:
            tok = me if p == "renew-self" else self._target(req)
            ttl, warnings = self.store.renew(tok, parse_duration(req.data.get("increment"), "increment"))
            return Resp(None, auth=tok.auth_block(ttl), warnings=warnings or None)
        if p in ("revoke-self", "revoke") and op in writes:
            self.store.revoke(me if p == "revoke-self" else self._target(req))
            return None
        if p in ("create", "create-orphan", "lookup-self", "lookup", "renew-self",
                 "renew", "revoke-self", "revoke", "lookup-accessor"):
            raise unsupported()
        raise VaultError(404, ['no handler for route "auth/token/%s". route entry not found.' % p])
