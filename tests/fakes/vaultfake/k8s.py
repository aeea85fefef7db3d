"""Kubernetes auth method of the Vault stand-in (api-docs/auth/kubernetes.mdx).

POST auth/<mount>/login {"role","jwt"} checks the service-account JWT and
returns a token with the role's policies. Validation:
  * with `pem_keys` in auth/<mount>/config: the JWT signature must verify
    (RS256/RS384/RS512 or ES256/ES384) against one of them;
  * without pem_keys: CLAIMS ONLY (the real plugin would ask the API
    server's TokenReview; this stand-in has no API server to ask).
Then exp/nbf, the optional issuer and audience, and the role's bound
service-account names and namespaces ("*" matches all). The service
account comes from the legacy claims (kubernetes.io/serviceaccount/...) or
the projected-token claim {"kubernetes.io": {"namespace", "serviceaccount"}}.
Errors: 400 "missing role", 400 "missing jwt", 400 `invalid role name "x"`;
403 "namespace not authorized" / "service account name not authorized" for
an unbound service account (the plugin's coded errors, checked in that
order); 403 permission denied for a JWT that fails any other check
(signature, exp/nbf, issuer, audience, malformed).
"""

import base64
import json
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .util import (SYSTEM_DEFAULT_TTL, Resp, VaultError, as_bool, as_list, bad_request,
                   denied, not_found, parse_duration, unsupported)

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify(alg, key, signed, sig):
    if len(alg) != 5 or alg[2:] not in _HASHES:
        return False
    h = _HASHES[alg[2:]]()
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, signed, padding.PKCS1v15(), h)
            return True
        if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(sig) // 2
            der = encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                       int.from_bytes(sig[half:], "big"))
            key.verify(der, signed, ec.ECDSA(h))
            return True
    except InvalidSignature:
        return False
    return False


def _bound(patterns, value):
    """StrListContainsGlob: "*" and "prefix*"/"*suffix" globs, else exact."""
    for p in patterns:
        if p == "*" or p == value:
            return True
        if p.endswith("*") and value.startswith(p[:-1]):
            return True
        if p.startswith("*") and value.endswith(p[1:]):
            return True
    return False


def service_account(claims):
    """(name, namespace, uid, secret_name) from either claim layout."""
    k8s = claims.get("kubernetes.io")
    if isinstance(k8s, dict):
        sa = k8s.get("serviceaccount") or {}
        return sa.get("name"), k8s.get("namespace"), sa.get("uid", ""), ""
    return (claims.get("kubernetes.io/serviceaccount/service-account.name"),
            claims.get("kubernetes.io/serviceaccount/namespace"),
            claims.get("kubernetes.io/serviceaccount/service-account.uid", ""),
            claims.get("kubernetes.io/serviceaccount/secret.name", ""))


class KubernetesAuth:
    type = "kubernetes"

    def __init__(self, tokens):
        self.tokens = tokens
        self.options = None
        self.config = {"kubernetes_host": "", "pem_keys": [], "issuer": "",
                       "disable_iss_validation": True}
        self._keys = []
        self.roles = {}

    def exists(self, path):
        if path.startswith("role/"):
            return path[len("role/"):] in self.roles
        return None

    def unauthenticated(self, path, op):
        return path == "login"

    def handle(self, req):
        if req.path == "login":
            if req.op not in ("create", "update"):
                raise unsupported()
            return self._login(req)
        if req.path == "config":
            return self._config(req)
        if req.path in ("role", "role/"):
            if req.op != "list":
                raise unsupported()
            if not self.roles:
                raise not_found()
            return Resp({"keys": sorted(self.roles)})
        if req.path.startswith("role/"):
            return self._role(req, req.path[len("role/"):])
        raise not_found()

    def _config(self, req):
        if req.op == "read":
            return Resp({k: v for k, v in self.config.items()})
        if req.op not in ("create", "update"):
            raise unsupported()
        d = req.data
        keys = []
        for pem in as_list(d.get("pem_keys")):
            try:
                keys.append(serialization.load_pem_public_key(pem.encode()))
            except ValueError as e:
                raise bad_request("error parsing pem_keys: %s" % e)
        self._keys = keys
        self.config = {
            "kubernetes_host": d.get("kubernetes_host", ""),
            "pem_keys": as_list(d.get("pem_keys")),
            "issuer": d.get("issuer", ""),
            "disable_iss_validation": as_bool(d.get("disable_iss_validation"), True),
        }
        return None

    def _role(self, req, name):
        if req.op == "read":
            role = self.roles.get(name)
            if role is None:
                raise not_found()
            return Resp(dict(role))
        if req.op == "delete":
            self.roles.pop(name, None)
            return None
        if req.op not in ("create", "update"):
            raise unsupported()
        d = req.data
        names = as_list(d.get("bound_service_account_names"))
        namespaces = as_list(d.get("bound_service_account_namespaces"))
        if not names:
            raise bad_request('"bound_service_account_names" can not be empty')
        if not namespaces:
            raise bad_request('"bound_service_account_namespaces" can not be empty')
        if len(names) > 1 and "*" in names:
            raise bad_request('can not mix "*" with values')
        policies = as_list(d.get("token_policies", d.get("policies")))
        self.roles[name] = {
            "bound_service_account_names": names,
            "bound_service_account_namespaces": namespaces,
            "token_policies": policies,
            "policies": policies,
            "token_ttl": parse_duration(d.get("token_ttl", d.get("ttl")), "token_ttl"),
            "token_max_ttl": parse_duration(d.get("token_max_ttl", d.get("max_ttl")), "token_max_ttl"),
            "audience": d.get("audience", ""),
            "token_num_uses": int(d.get("token_num_uses", 0)),
        }
        return None

    def _claims(self, jwt):
        """Decoded, verified claims, or None for any defect."""
        parts = jwt.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, TypeError):
            return None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        if self._keys:
            signed = (parts[0] + "." + parts[1]).encode()
            alg = str(header.get("alg", ""))
            if not any(_verify(alg, k, signed, sig) for k in self._keys):
                return None
        now = time.time()
        if isinstance(claims.get("exp"), (int, float)) and now >= claims["exp"]:
            return None
        if isinstance(claims.get("nbf"), (int, float)) and now < claims["nbf"]:
            return None
        if self.config["issuer"] and not self.config["disable_iss_validation"]:
            if claims.get("iss") != self.config["issuer"]:
                return None
        return claims

    def _login(self, req):
        d = req.data
        role_name = d.get("role") or ""
        if not role_name:
            raise bad_request("missing role")
        jwt = d.get("jwt") or ""
        if not jwt:
            raise bad_request("missing jwt")
        role = self.roles.get(role_name)
        if role is None:
            raise bad_request('invalid role name "%s"' % role_name)
        claims = self._claims(jwt)
        if claims is None:
            raise denied()
        name, ns, uid, secret = service_account(claims)
        if not name or not ns:
            raise denied()
        # The plugin answers these two with coded 403s of their own.
        if not _bound(role["bound_service_account_namespaces"], ns):
            raise VaultError(403, ["namespace not authorized"])
        if not _bound(role["bound_service_account_names"], name):
            raise VaultError(403, ["service account name not authorized"])
        if role["audience"]:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if role["audience"] not in auds:
                raise denied()
        meta = {"role": role_name, "service_account_name": name,
                "service_account_namespace": ns,
                "service_account_secret_name": secret or "",
                "service_account_uid": uid or ""}
        tok = self.tokens.create(role["token_policies"], role["token_ttl"] or SYSTEM_DEFAULT_TTL,
                                 explicit_max_ttl=role["token_max_ttl"],
                                 num_uses=role["token_num_uses"],
                                 display_name="%s%s-%s" % (req.mount_path[len("auth/"):].replace("/", "-"), ns, name),
                                 meta=meta, path=req.mount_path + "login", orphan=True)
        return Resp(None, auth=tok.auth_block())
