"""Client-certificate authentication as kube-apiserver does it with
--client-ca-file: the TLS handshake asks for a client certificate but does
not judge it (Go's tls.RequestClientCert); the x509 authenticator then
verifies it on every request against the client CA bundle, for client
authentication, and maps it to a user: the subject's CommonName is the
user name, its Organizations are the groups.  A certificate it cannot
verify is an authentication error -- 401 unless another credential (a
valid bearer token) authenticates the request -- never a failed
handshake.

Python's ssl module has no "request but do not verify" mode, so
accept_any_client_certificate() installs an OpenSSL verify callback that
accepts every certificate at the handshake (through ctypes, checked at
start), and verify() does the authenticator's work with
python3-cryptography.  Supported: leaf certificates issued directly by a
CA in the bundle (RSA or ECDSA), validity period, the extended key usage
(clientAuth or none).  Not supported: intermediates sent by the client,
revocation, the requestheader (front proxy) CA."""

import ctypes
import ctypes.util
import datetime
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SSL_VERIFY_PEER = 1            # OpenSSL's flag; also ssl.CERT_OPTIONAL

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
# Must outlive every handshake: a module-level reference.
_accept_all = _VERIFY_CB(lambda preverify_ok, store_ctx: 1)


class CertificateError(Exception):
    """The client certificate does not authenticate anyone."""


def accept_any_client_certificate(ctx):
    """Make a server SSLContext request a client certificate and accept
    whatever the client sends (or nothing); verify() judges it later."""
    ctx.verify_mode = ssl.CERT_OPTIONAL
    libssl = ctypes.CDLL(ctypes.util.find_library("ssl"))
    libssl.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                          _VERIFY_CB]
    libssl.SSL_CTX_set_verify.restype = None
    libssl.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    libssl.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    # CPython's SSLContext object starts with its SSL_CTX pointer right
    # after the object header; check it is one before using it.
    ptr = ctypes.c_void_p.from_address(id(ctx) +
                                       object.__basicsize__).value
    if not ptr or libssl.SSL_CTX_get_verify_mode(ptr) != SSL_VERIFY_PEER:
        raise RuntimeError("cannot reach the OpenSSL context of this "
                           "Python's ssl module")
    libssl.SSL_CTX_set_verify(ptr, SSL_VERIFY_PEER, _accept_all)


class ClientCAs:
    """The --client-ca-file bundle."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.cas = x509.load_pem_x509_certificates(data) \
            if hasattr(x509, "load_pem_x509_certificates") \
            else _load_all(data)
        if not self.cas:
            raise ValueError(f"{path}: no certificate")

    def verify(self, der):
        """(user, groups) for a DER client certificate, or
        CertificateError saying why it authenticates nobody."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise CertificateError(f"bad certificate: {e}")
        now = datetime.datetime.utcnow()
        if not cert.not_valid_before <= now <= cert.not_valid_after:
            raise CertificateError("x509: certificate has expired or is "
                                   "not yet valid")
        try:
            eku = cert.extensions.get_extension_for_class(
                x509.ExtendedKeyUsage).value
            if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and \
                    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
                raise CertificateError("x509: certificate specifies an "
                                       "incompatible key usage")
        except x509.ExtensionNotFound:
            pass
        if not any(_issued_by(cert, ca) for ca in self.cas):
            raise CertificateError("x509: certificate signed by unknown "
                                   "authority")
        subject = cert.subject
        cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        user = cns[0].value if cns else ""
        if not user:
            raise CertificateError("x509: certificate has no CommonName")
        groups = [a.value for a in
                  subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        return user, groups


def _issued_by(cert, ca):
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _load_all(data):
    marker = b"-----END CERTIFICATE-----"
    out = []
    for chunk in data.split(marker):
        if b"-----BEGIN CERTIFICATE-----" in chunk:
            out.append(x509.load_pem_x509_certificate(chunk + marker))
    return out
