"""TLS clients for the certificate tests: one handshake (which certificate
did the server send for an SNI name, was the session resumed), and a load
of back-to-back full handshakes that records every result.

    r = tls.handshake(port, "a.example.com")
    r.cn, r.der, r.reused, r.session
    load = tls.HandshakeLoad(port, "a.example.com", threads=4)
    ...; results = load.stop()
"""
import socket
import ssl
import threading
import time

from cryptography import x509
from cryptography.x509.oid import NameOID


class Result:
    """What one handshake (and one request on it) showed."""

    def __init__(self, der, reused, session, version, body):
        self.der = der
        self.reused = reused
        self.session = session
        self.version = version
        self.body = body

    @property
    def cn(self):
        """Common name of the certificate the server sent."""
        cert = x509.load_der_x509_certificate(self.der)
        return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def client_context(version=None, cafile=None):
    """A client context: TLS 1.2 or 1.3 only when version is "1.2"/"1.3";
    verifying against cafile (chain and host name) when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def handshake(port, sni, version=None, cafile=None, session=None,
              context=None, request=True, timeout=5.0):
    """One TLS connection to 127.0.0.1:port with SNI sni (None: no SNI).
    With request, one GET / is answered on it first (TLS 1.3 tickets
    arrive after the handshake, so a resumable session needs it)."""
    ctx = context or client_context(version, cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=sni, session=session) as t:
            body = b""
            if request:
                t.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            return Result(t.getpeercert(binary_form=True), t.session_reused,
                          t.session, t.version(), body.decode(errors="replace"))


class HandshakeLoad:
    """Threads making full handshakes (new connections, no resumption) to
    one SNI name back to back until stop(); every result is kept as
    (monotonic time, common name or None, error or None)."""

    def __init__(self, port, sni, threads=4):
        self.port, self.sni = port, sni
        self.results = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        ctx = client_context()
        while self.running:
            try:
                r = handshake(self.port, self.sni, context=ctx, request=False)
                item = (time.monotonic(), r.cn, None)
            except (OSError, ssl.SSLError) as e:
                item = (time.monotonic(), None, repr(e))
            with self.lock:
                self.results.append(item)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def failures(self):
        with self.lock:
            return [r for r in self.results if r[2] is not None]

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(10)
        return self.results
