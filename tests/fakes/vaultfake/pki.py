"""PKI secrets engine of the Vault stand-in (api-docs/secret/pki.mdx).

Issues real X.509 certificates signed by a test CA (generated when the
engine is mounted, EC P-256, or loaded from --pki-ca-cert/--pki-ca-key).
Roles check names like the real engine's validateNames: allowed_domains
with allow_bare_domains / allow_subdomains / allow_glob_domains /
allow_any_name / allow_localhost / allow_wildcard_certificates, and cap
the TTL at max_ttl with the real warning text. Not implemented: CSR signing
(sign/<role>), CRLs, revocation, issuers API, generate/root.
"""

import base64
import datetime
import fnmatch
import ipaddress
import re
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .util import (SYSTEM_DEFAULT_TTL, SYSTEM_MAX_TTL, Resp, VaultError, as_bool,
                   as_list, bad_request, go_duration, not_found, parse_duration,
                   unsupported)

CA_VALIDITY = datetime.timedelta(days=3650)
NOT_BEFORE_SKEW = datetime.timedelta(seconds=30)
SERIAL_BYTES = 19
_HOSTNAME = re.compile(r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")

ROLE_DEFAULTS = {
    "allowed_domains": [], "allow_bare_domains": False, "allow_subdomains": False,
    "allow_glob_domains": False, "allow_any_name": False, "allow_localhost": True,
    "allow_wildcard_certificates": True, "allow_ip_sans": True,
    "enforce_hostnames": True, "server_flag": True, "client_flag": True,
    "key_type": "rsa", "key_bits": 0, "ttl": 0, "max_ttl": 0,
    "generate_lease": False, "no_store": False,
}
_BOOL_FIELDS = [k for k, v in ROLE_DEFAULTS.items() if isinstance(v, bool)]


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def serial_hex(n):
    h = "%x" % n
    if len(h) % 2:
        h = "0" + h
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def _key_pem(key, pkcs8):
    fmt = (serialization.PrivateFormat.PKCS8 if pkcs8
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             serialization.NoEncryption()).decode().strip()


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode().strip()


def make_ca(common_name="Vault Fake Root CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - NOT_BEFORE_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def load_ca(cert_file, key_file):
    with open(cert_file, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return cert, key


class PKI:
    type = "pki"

    def __init__(self, ca=None):
        self.ca_cert, self.ca_key = ca if ca else make_ca()
        self.options = None
        self.roles = {}
        self.issued = {}

    def exists(self, path):
        if path.startswith("roles/"):
            return path[len("roles/"):] in self.roles
        return None

    def unauthenticated(self, path, op):
        return op == "read" and path in ("ca/pem", "ca", "cert/ca", "ca_chain", "cert/ca_chain")

    def handle(self, req):
        p = req.path
        if p in ("ca/pem", "ca_chain", "cert/ca_chain"):
            if req.op != "read":
                raise unsupported()
            return Resp(raw=(_cert_pem(self.ca_cert) + "\n").encode(),
                        content_type="application/pem-certificate-chain")
        if p == "ca":
            if req.op != "read":
                raise unsupported()
            return Resp(raw=self.ca_cert.public_bytes(serialization.Encoding.DER),
                        content_type="application/pkix-cert")
        if p == "cert/ca":
            return Resp({"certificate": _cert_pem(self.ca_cert), "revocation_time": 0})
        if p == "roles" or p == "roles/":
            if req.op != "list":
                raise unsupported()
            if not self.roles:
                raise not_found()
            return Resp({"keys": sorted(self.roles)})
        if p.startswith("roles/"):
            return self._role(req, p[len("roles/"):])
        if p.startswith("issue/"):
            if req.op not in ("create", "update"):
                raise unsupported()
            return self._issue(req, p[len("issue/"):])
        raise VaultError(404, ['no handler for route "%s%s". route entry not found.' % (req.mount_path, p)])

    # -- roles -----------------------------------------------------------
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
        role = dict(ROLE_DEFAULTS)          # a write replaces the role (PATCH merges)
        d = req.data
        for k in _BOOL_FIELDS:
            if k in d:
                role[k] = as_bool(d[k])
        if "allowed_domains" in d:
            role["allowed_domains"] = as_list(d["allowed_domains"])
        for k in ("ttl", "max_ttl"):
            if k in d:
                role[k] = parse_duration(d[k], k)
        if "key_type" in d:
            if d["key_type"] not in ("rsa", "ec"):
                raise bad_request("unknown key_type %s" % d["key_type"])
            role["key_type"] = d["key_type"]
        if "key_bits" in d:
            role["key_bits"] = int(d["key_bits"])
        self.roles[name] = role
        return None

    # -- issue -----------------------------------------------------------
    def _name_allowed(self, role, name):
        if role["allow_any_name"]:
            return True
        if role["allow_localhost"] and name in ("localhost", "localdomain"):
            return True
        wildcard = name.startswith("*.")
        if wildcard and not role["allow_wildcard_certificates"]:
            return False
        if role["enforce_hostnames"] and not _HOSTNAME.match(name):
            return False
        bare = name[2:] if wildcard else name
        for dom in role["allowed_domains"]:
            if role["allow_bare_domains"] and not wildcard and bare.lower() == dom.lower():
                return True
            if role["allow_subdomains"] and (bare.lower().endswith("." + dom.lower())
                                             or (wildcard and bare.lower() == dom.lower())):
                return True
            if role["allow_glob_domains"] and fnmatch.fnmatchcase(name, dom):
                return True
        return False

    def _issue(self, req, role_name):
        role = self.roles.get(role_name)
        if role is None:
            raise bad_request("unknown role: %s" % role_name)
        d = req.data
        cn = d.get("common_name", "")
        if not cn:
            raise bad_request('the common_name field is required, or must be provided in a CSR '
                              'with "use_csr_common_name" set to true, unless "require_cn" is set to false')
        alt = as_list(d.get("alt_names"))
        if not self._name_allowed(role, cn):
            raise bad_request("common name %s not allowed by this role" % cn)
        for n in alt:
            if not self._name_allowed(role, n):
                raise bad_request("subject alternate name %s not allowed by this role" % n)
        ips = []
        for s in as_list(d.get("ip_sans")):
            if not role["allow_ip_sans"]:
                raise bad_request("IP Subject Alternative Names are not allowed in this role, "
                                  "but was provided %s" % s)
            try:
                ips.append(ipaddress.ip_address(s))
            except ValueError:
                raise bad_request("the value \"%s\" is not a valid IP address" % s)
        fmt = d.get("format", "pem")
        if fmt not in ("pem", "der", "pem_bundle"):
            raise bad_request('unknown format "%s"' % fmt)
        warnings = []
        ttl = parse_duration(d.get("ttl"), "ttl") or role["ttl"] or SYSTEM_DEFAULT_TTL
        max_ttl = role["max_ttl"] or SYSTEM_MAX_TTL
        if ttl > max_ttl:
            warnings.append('TTL "%s" is longer than permitted maxTTL "%s", so maxTTL is being used'
                            % (go_duration(ttl), go_duration(max_ttl)))
            ttl = max_ttl
        now = _utcnow()
        not_after = now + datetime.timedelta(seconds=ttl)
        if not_after > self.ca_cert.not_valid_after.replace(tzinfo=datetime.timezone.utc):
            raise bad_request("cannot satisfy request, as TTL would result in notAfter %s that is "
                              "beyond the expiration of the CA certificate" % not_after.isoformat())
        if role["key_type"] == "ec":
            bits = role["key_bits"] or 256
            curve = {224: ec.SECP224R1(), 256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}.get(bits)
            if curve is None:
                raise bad_request("unsupported bit length for EC key: %d" % bits)
            key = ec.generate_private_key(curve)
        else:
            key = rsa.generate_private_key(65537, role["key_bits"] or 2048)
        dns = [] if as_bool(d.get("exclude_cn_from_sans")) else [cn]
        dns += [n for n in alt if n not in dns]
        serial = int.from_bytes(secrets.token_bytes(SERIAL_BYTES), "big") | 1
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(self.ca_cert.subject)
             .public_key(key.public_key())
             .serial_number(serial)
             .not_valid_before(now - NOT_BEFORE_SKEW)
             .not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                            critical=False))
        usages = []
        if role["server_flag"]:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if role["client_flag"]:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if usages:
            b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(i) for i in ips]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        pkcs8 = d.get("private_key_format") == "pkcs8"
        cert_pem, ca_pem, key_pem = _cert_pem(cert), _cert_pem(self.ca_cert), _key_pem(key, pkcs8)
        if fmt == "der":
            cert_out = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            ca_out = base64.b64encode(self.ca_cert.public_bytes(serialization.Encoding.DER)).decode()
            key_out = base64.b64encode(key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption())).decode()
        elif fmt == "pem_bundle":
            cert_out, ca_out, key_out = key_pem + "\n" + cert_pem + "\n" + ca_pem, ca_pem, key_pem
        else:
            cert_out, ca_out, key_out = cert_pem, ca_pem, key_pem
        data = {
            "certificate": cert_out,
            "issuing_ca": ca_out,
            "ca_chain": [ca_out],
            "private_key": key_out,
            "private_key_type": role["key_type"],
            "serial_number": serial_hex(serial),
            "expiration": int(not_after.timestamp()),
        }
        self.issued[serial_hex(serial)] = cert_pem
        return Resp(data, warnings=warnings or None,
                    lease_duration=ttl if role["generate_lease"] else 0,
                    lease_id=("%sissue/%s/%s" % (req.mount_path, role_name, serial_hex(serial)))
                    if role["generate_lease"] else "")
