"""Test certificates for every Portico test: CAs, intermediates, leaf
certificates for given host names (SANs, wildcards, IPs), expired and
not-yet-valid certificates, mismatched key pairs, RSA and EC keys, PEM out
to strings and files. Built on python3-cryptography; nothing touches the
network or the system trust store.

    ca = certs.make_ca()
    leaf = certs.make_cert(ca, ["a.example.com", "*.b.example.com"])
    crt, key = leaf.write(tmp_path, "a.example.com")    # 0600 PEM files
    ca.write_cert(tmp_path / "ca.crt")
    inter = certs.make_intermediate(ca)
    leaf2 = certs.make_cert(inter, ["c.example.com"])
    leaf2.chain_pem          # leaf + intermediate, what a server presents
    certs.expired_cert(ca, ["old.example.com"])
    crt_pem, other_key_pem = certs.mismatched_pair(ca, ["x.example.com"])
    client = certs.client_cert(ca, "client-1")    # clientAuth only
    crl_pem = certs.make_crl(ca, revoked=[client])

EC P-256 keys are the default because they are made in microseconds; RSA
2048 takes ~0.1 s per key on this machine.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 30
CA_DAYS = 365
CLOCK_SKEW = datetime.timedelta(minutes=5)
RSA_DEFAULT_BITS = 2048
_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def new_key(key_type="ec", bits=None):
    """A fresh private key: key_type "ec" (bits 256/384/521) or "rsa"."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits or RSA_DEFAULT_BITS)
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[bits or 256]())
    raise ValueError("key_type must be 'ec' or 'rsa', not %r" % key_type)


def key_pem(key, fmt="pkcs8"):
    """PEM text of a private key. fmt "pkcs8" (BEGIN PRIVATE KEY) or
    "traditional" (BEGIN RSA/EC PRIVATE KEY, what Vault's PKI returns)."""
    f = (serialization.PrivateFormat.PKCS8 if fmt == "pkcs8"
         else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.PEM, f,
                             serialization.NoEncryption()).decode()


def public_key_pem(key):
    """PEM (SubjectPublicKeyInfo) of the public half of a private key."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem):
    """x509.Certificate from PEM text or bytes (first certificate)."""
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def write_pem(path, text, mode=0o600):
    """Write PEM text to path with the given mode; returns str(path)."""
    path = str(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Issued:
    """A certificate with its private key and issuer (None if self-signed)."""

    def __init__(self, cert, key, issuer=None):
        self.cert = cert
        self.key = key
        self.issuer = issuer

    @property
    def cert_pem(self):
        return cert_pem(self.cert)

    @property
    def key_pem(self):
        return key_pem(self.key)

    @property
    def chain_pem(self):
        """This certificate followed by its issuers, excluding the root."""
        out, node = [self.cert_pem], self.issuer
        while node is not None and node.issuer is not None:
            out.append(node.cert_pem)
            node = node.issuer
        return "".join(out)

    @property
    def root(self):
        node = self
        while node.issuer is not None:
            node = node.issuer
        return node

    def write(self, directory, name, chain=False):
        """Write <name>.crt and <name>.key (0600) into directory.
        chain=True puts the intermediates after the leaf. Returns paths."""
        directory = str(directory)
        crt = write_pem(os.path.join(directory, name + ".crt"),
                        self.chain_pem if chain else self.cert_pem)
        key = write_pem(os.path.join(directory, name + ".key"), self.key_pem)
        return crt, key

    def write_cert(self, path):
        return write_pem(path, self.cert_pem, 0o644)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(days, not_before, not_after):
    nb = not_before or (_now() - CLOCK_SKEW)
    na = not_after or (nb + datetime.timedelta(days=days))
    return nb, na


def make_ca(common_name="Portico Test CA", key_type="ec", key_bits=None,
            days=CA_DAYS, not_before=None, not_after=None):
    """A self-signed root CA."""
    key = new_key(key_type, key_bits)
    nb, na = _validity(days, not_before, not_after)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def _ca_usage():
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def make_intermediate(issuer, common_name="Portico Test Intermediate CA",
                      key_type="ec", key_bits=None, days=CA_DAYS,
                      path_length=0):
    """An intermediate CA signed by issuer (path_length: how many CAs may
    follow it, None for no limit)."""
    key = new_key(key_type, key_bits)
    nb, na = _validity(days, None, None)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                           critical=False)
            .sign(issuer.key, hashes.SHA256()))
    return Issued(cert, key, issuer)


def make_cert(issuer, hostnames=(), ips=(), common_name=None, key_type="ec",
              key_bits=None, days=DEFAULT_DAYS, not_before=None, not_after=None,
              server=True, client=False, key=None):
    """A leaf certificate for hostnames (DNS SANs, "*.x" wildcards allowed)
    and ips (IP SANs), signed by issuer; issuer=None makes it self-signed.
    common_name defaults to the first host name. `key` reuses a key."""
    hostnames = list(hostnames)
    ips = [ipaddress.ip_address(i) for i in ips]
    key = key or new_key(key_type, key_bits)
    cn = common_name or (hostnames[0] if hostnames else (str(ips[0]) if ips else "portico-test"))
    nb, na = _validity(days, not_before, not_after)
    signer_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder()
         .subject_name(_name(cn))
         .issuer_name(issuer.cert.subject if issuer else _name(cn))
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                            critical=False)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
             ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if usages:
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(i) for i in ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Issued(b.sign(signer_key, hashes.SHA256()), key, issuer)


def self_signed(hostnames, **kw):
    """A self-signed leaf certificate (no CA)."""
    return make_cert(None, hostnames, **kw)


def expired_cert(issuer, hostnames, **kw):
    """Valid for 10 days, ended yesterday."""
    end = _now() - datetime.timedelta(days=1)
    return make_cert(issuer, hostnames, not_before=end - datetime.timedelta(days=10),
                     not_after=end, **kw)


def not_yet_valid_cert(issuer, hostnames, **kw):
    """Starts tomorrow, valid for 30 days."""
    start = _now() + datetime.timedelta(days=1)
    return make_cert(issuer, hostnames, not_before=start,
                     not_after=start + datetime.timedelta(days=30), **kw)


def mismatched_pair(issuer, hostnames, **kw):
    """(cert_pem, key_pem) where the key does NOT belong to the certificate."""
    leaf = make_cert(issuer, hostnames, **kw)
    other = new_key(kw.get("key_type", "ec"), kw.get("key_bits"))
    return leaf.cert_pem, key_pem(other)


def key_matches(cert, key):
    """True if the private key belongs to the certificate."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def make_crl(issuer, revoked=(), days=DEFAULT_DAYS, last_update=None,
             next_update=None):
    """PEM text of a CRL signed by issuer listing the revoked Issued
    certificates (days: until its next update)."""
    last = last_update or (_now() - CLOCK_SKEW)
    nxt = next_update or (last + datetime.timedelta(days=days))
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(issuer.cert.subject)
         .last_update(last).next_update(nxt))
    for r in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(r.cert.serial_number)
            .revocation_date(last).build())
    crl = b.sign(issuer.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def client_cert(issuer, common_name, **kw):
    """A client certificate (extended key usage clientAuth only) with the
    given subject common name."""
    return make_cert(issuer, (), common_name=common_name, server=False,
                     client=True, **kw)
