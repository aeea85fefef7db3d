"""HTTP(S) transport and process life of the Vault stand-in.

Listens on loopback only, HTTP/1.1 with keep-alive, one thread per
connection; exits by itself after --max-lifetime seconds and as soon as its
parent process dies, so no test run leaves it behind.
"""

import argparse
import ctypes
import http.server
import ipaddress
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

from .core import MAX_REQUEST_BYTES, Core
from .pki import load_ca
from .util import new_token_value

DEFAULT_MAX_LIFETIME = 1800
PARENT_POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


def _log(msg):
    sys.stderr.write("%s vault-fake: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vault-fake"
    sys_version = ""

    def log_message(self, fmt, *args):       # the core keeps its own log
        pass

    def send_response(self, code, message=None):
        # Like Vault: a Date header but no Server header.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self):
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise ValueError("chunked body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _too_large(self):
        body = json.dumps({"errors": ["http: request body too large"]}).encode() + b"\n"
        self.send_response(413)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _dispatch(self):
        try:
            if int(self.headers.get("Content-Length") or 0) > MAX_REQUEST_BYTES:
                self._too_large()
                return
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        ans = self.server.core.handle(self.command, self.path, self.headers, body)
        if ans.hang:
            time.sleep(ans.hang)
            self.close_connection = True
            return
        self.send_response(ans.status)
        for k, v in ans.headers.items():
            self.send_header(k, v)
        if ans.status != 204:
            self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(ans.body)))
        self.end_headers()
        if self.command != "HEAD" and ans.status != 204:
            self.wfile.write(ans.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = do_HEAD = _dispatch
    do_OPTIONS = _dispatch


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Like a real server's backlog: socketserver's default of 5 drops SYNs
    # (1 s client retries) as soon as a few clients connect at once.
    request_queue_size = 512

    def handle_error(self, request, client_address):
        _log("connection from %s:%s ended: %s" % (client_address[0], client_address[1], sys.exc_info()[1]))


def parse_listen(text):
    """"127.0.0.1:8200" or "[::1]:8200" -> (host, port); loopback only."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    try:
        addr = ipaddress.ip_address(host)
        port_no = int(port)
    except ValueError:
        raise SystemExit("vault-fake: --listen wants NUMERIC_HOST:PORT, got %r" % text)
    if not addr.is_loopback:
        raise SystemExit("vault-fake: refusing to listen on %s: loopback (127.0.0.0/8, ::1) only" % host)
    if not 0 <= port_no <= 65535:
        raise SystemExit("vault-fake: bad port %r" % port)
    return host, port_no


def _watch_parent(parent):
    while True:
        if os.getppid() != parent:
            _log("parent %d gone, exiting" % parent)
            os._exit(0)
        time.sleep(PARENT_POLL_SECONDS)


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass                                   # the polling thread still works


def main(argv=None):
    ap = argparse.ArgumentParser(prog="vault", description="HashiCorp Vault stand-in for tests")
    ap.add_argument("--listen", default="127.0.0.1:8200")
    ap.add_argument("--root-token", default=os.environ.get("VAULT_DEV_ROOT_TOKEN_ID"))
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--config", help="JSON configuration applied at start")
    ap.add_argument("--max-lifetime", type=float, default=DEFAULT_MAX_LIFETIME)
    ap.add_argument("--pki-ca-cert")
    ap.add_argument("--pki-ca-key")
    ap.add_argument("--dev-kv-v1", action="store_true", help="mount secret/ as KV v1")
    args = ap.parse_args(argv)

    host, port = parse_listen(args.listen)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("vault-fake: --tls-cert and --tls-key go together")
    if bool(args.pki_ca_cert) != bool(args.pki_ca_key):
        raise SystemExit("vault-fake: --pki-ca-cert and --pki-ca-key go together")
    parent = os.getppid()
    _die_with_parent()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    timer = threading.Timer(args.max_lifetime, lambda: (_log("max lifetime reached, exiting"), os._exit(0)))
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    pki_ca = load_ca(args.pki_ca_cert, args.pki_ca_key) if args.pki_ca_cert else None
    core = Core(args.root_token or new_token_value(), pki_ca=pki_ca,
                kv_v1_secret=args.dev_kv_v1, log=_log)
    if args.config:
        try:
            with open(args.config) as f:
                core.apply_config(json.load(f))
        except (OSError, ValueError) as e:
            raise SystemExit("vault-fake: --config %s: %s" % (args.config, e))

    _Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        srv = _Server((host, port), _Handler)
    except OSError as e:
        raise SystemExit("vault-fake: cannot listen on %s: %s" % (args.listen, e))
    srv.core = core
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # Handshake in the connection's thread, not in accept().
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    bound = srv.server_address[1]
    addr = "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, bound)
    print("==> Vault stand-in started (like `vault server -dev`)", flush=True)
    print("Api Address: %s" % addr, flush=True)
    print("Unseal Key: %s" % core.unseal_key, flush=True)
    print("Root Token: %s" % core.root.id, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0
