"""The Portico test bed: real processes on loopback for integration tests.

Paths, free ports and small helpers live here; process management is in
procs.py; fixtures are in fixtures_*.py (loaded as pytest plugins by
conftest.py).
"""
import os
import pathlib
import socket
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("PORTICO_BUILD", REPO / "build")).resolve()
MODULE_SO = BUILD / "ngx_http_upstream_resolve_module.so"
FAKES = REPO / "tests" / "fakes"

NGINX = "/usr/sbin/nginx"
DNSMASQ = "/usr/sbin/dnsmasq"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port free for both TCP and UDP on host, never handed out twice in
    this test session (so parallel fixtures do not collide)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if port in _handed_out:
                continue
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


def wait_tcp(host, port, timeout=0.2):
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def promtool_check_metrics(text):
    """Lints a Prometheus text exposition with the real promtool.
    Returns (returncode, combined output): 0 is clean, 3 lint problems,
    1 parse error."""
    if isinstance(text, str):
        text = text.encode()
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return p.returncode, p.stdout.decode(errors="replace")
