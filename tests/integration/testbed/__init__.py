"""The Portico test bed: real processes on loopback for integration tests.

Paths, free ports and small helpers live here; process management is in
procs.py; fixtures are in fixtures_*.py (loaded as pytest plugins by
conftest.py).
"""
import os
import pathlib
import random
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


def _ephemeral_low():
    """The first port of the kernel's ephemeral range (outgoing
    connections and bind to port 0 take theirs from it)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports below the ephemeral range: a port handed out and not yet bound by
# the process it is for cannot be taken meanwhile by some process's
# outgoing connection (CI once lost a fake API server's port that way).
_PORTS_LOW = 10000


def free_port(host="127.0.0.1"):
    """A port free for both TCP and UDP on host, below the kernel's
    ephemeral range, never handed out twice in this test session (so
    parallel fixtures do not collide)."""
    high = _ephemeral_low()
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(_PORTS_LOW, high) if high > _PORTS_LOW + 1000 \
            else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((host, port))
            except OSError:
                continue
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
