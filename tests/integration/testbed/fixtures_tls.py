"""nginx with the certificate module (ngx_http_portico_ssl_module,
docs/certificates.md) and a certificate table the test writes: one HTTPS
server on 127.0.0.1 whose certificates come from the table, and a status
server. Used by the module's certificate and client certificate tests.

    cn = cert_nginx(workers=2)
    stem = cn.pair(["a.example.com"], "a-stem")
    cn.swap({"a.example.com": stem})           # waits for every worker
    cn.swap({"a.example.com": stem + " ca=ca-1 verify=on"})   # words
"""
import os

import pytest

import testbed
from testbed import certs, tls
from testbed.fixtures_module import http_get, wait_for, write_routes

DEFAULT_CN = "portico-default"


def certificates_version(port):
    """The lines of /certificates-version (line 1: the common version)."""
    code, body = http_get(port, "/certificates-version")
    assert code == 200, body
    return body.splitlines()


class CertNginx:
    """nginx with one HTTPS server whose certificates come from the table
    "certificates" next to nginx.conf (files in self.dir), its default
    certificate "portico-default", and a status server."""

    def __init__(self, nginx_factory, tmp_path, workers=2, interval="100ms",
                 cache=None, extra="", server_extra="", main_conf="",
                 start=True):
        self.ca = certs.make_ca()
        self.dir = tmp_path / "certs"
        self.dir.mkdir(exist_ok=True)
        default = certs.self_signed(["default.invalid"],
                                    common_name=DEFAULT_CN)
        self.default = default
        self.default_crt, self.default_key = default.write(self.dir,
                                                           "default")
        self.port, self.sport = testbed.free_port(), testbed.free_port()
        self.workers = workers
        params = f" interval={interval}" + (f" cache={cache}" if cache else "")
        conf = (f"ssl_protocols TLSv1.2 TLSv1.3;\n"
                f"ssl_session_cache shared:portico_ssl:1m;\n"
                f"portico_certificates certificates dir={self.dir}{params};\n"
                f"server {{ listen 127.0.0.1:{self.port} ssl reuseport "
                f"default_server;\n"
                f"  ssl_certificate {self.default_crt};\n"
                f"  ssl_certificate_key {self.default_key};\n"
                f"  portico_certificate_by_sni;\n"
                f"  keepalive_requests 1000000;\n"
                f"  {server_extra}\n"
                f"  location / {{ return 200 \"$ssl_server_name\\n\"; }} }}\n"
                f"server {{ listen 127.0.0.1:{self.sport} reuseport;\n"
                f"  location = /certificates-version "
                f"{{ portico_certificates_status; }} }}\n" + extra)
        self.nginx = nginx_factory(conf, workers=workers, main_conf=main_conf,
                                   start=False)
        self.table_path = os.path.join(self.nginx.prefix, "conf",
                                       "certificates")
        self.count = 0
        self.write({})
        if start:
            self.nginx.start()

    def pair(self, hosts, cn, key_type="ec", issuer=None, chain=False):
        """A certificate for hosts (SANs) with common name cn, written as
        the stem cn; returns the stem."""
        leaf = certs.make_cert(issuer or self.ca, hosts, common_name=cn,
                               key_type=key_type)
        leaf.write(self.dir, cn, chain=chain)
        return cn

    def write(self, hosts, version=None):
        """Puts a table for {host: stem} in place (a new file renamed over
        the old one, as the controller does); returns its version."""
        self.count += 1
        version = version or f"v{self.count}"
        lines = ["portico-certificates 1", f"version {version}"]
        lines += [f"host {h} {s}" for h, s in hosts.items()]
        write_routes(self.table_path, "\n".join(lines) + "\n")
        return version

    def wait_version(self, version, timeout=10):
        wait_for(lambda: certificates_version(self.sport)[0] == version,
                 timeout=timeout, what=f"every worker on {version}")

    def swap(self, hosts):
        version = self.write(hosts)
        self.wait_version(version)
        return version

    def cn(self, sni, **kw):
        return tls.handshake(self.port, sni, **kw).cn


@pytest.fixture
def cert_nginx(nginx_factory, tmp_path):
    def make(**kw):
        return CertNginx(nginx_factory, tmp_path, **kw)
    return make
