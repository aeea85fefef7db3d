"""nginx globals from a ConfigMap folder (--nginx-config, one file per key
as the kubelet mounts a ConfigMap): applied to nginx; a bad value or an
unknown key stops the controller with the key and the reason (fail
closed: nothing it would not honour is silently dropped)."""
import re

import pytest

from testbed.controller import CONTROLLER, eventually
from test_controller_local import LocalController, ingress, service, ctl  # noqa: F401,E501
from test_controller_local import backends  # noqa: F401


def write_config(d, **keys):
    d.mkdir(exist_ok=True)
    for k, v in keys.items():
        (d / k.replace("_", "-")).write_text(v + "\n")
    return d


def test_globals_from_the_configmap_reach_nginx(procs, tmp_path, backends,
                                               dnscache_factory):
    dc = dnscache_factory()
    cfg = write_config(tmp_path / "config", worker_processes="2",
                       keep_alive="7s", keep_alive_requests="50",
                       proxy_read_timeout="33s", proxy_body_size="3m",
                       log_format_upstream='portico-access $host "$request" '
                       '$status ${upstream_addr}')
    ctl = LocalController(procs, tmp_path, f"{dc.addr}:{dc.port}",
                          extra=[f"--nginx-config={cfg}"])
    a = backends["alpha"]
    ctl.write("svc-alpha", service("alpha", a.port))
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/x", "alpha")
    conf = ctl.nginx_conf()
    # --worker-processes=1 from the test bed: the ConfigMap wins.
    assert "worker_processes 2;" in conf
    assert "keepalive_timeout 7s;" in conf
    assert "keepalive_requests 50;" in conf
    assert "proxy_read_timeout 33s;" in conf
    assert "client_max_body_size 3m;" in conf
    eventually(lambda: len(ctl.nginx_pids()[1]) == 2)
    eventually(lambda: re.search(
        r'portico-access a.test "GET /x HTTP/1.1" 200 127.0.0.2:\d+',
        ctl.proc.log_text()))


@pytest.mark.parametrize("key,value,reason", [
    ("keep-alive", "forever", 'keep-alive: invalid timeout "forever"'),
    ("worker-processes", "lots", "worker-processes: want auto or a number"),
    ("proxy-body-size", "1t", "proxy-body-size: "),
    ("log-format-upstream", "$remote_addr; evil", None),
    ("log-format-upstream", "cost $", "log-format-upstream: want printable"),
    ("no-such-key", "1", 'unknown key "no-such-key"'),
])
def test_a_bad_global_stops_the_controller_with_the_reason(
        procs, tmp_path, key, value, reason):
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / key).write_text(value)
    man = tmp_path / "m"
    man.mkdir()
    p = procs.start("portico-controller", [
        CONTROLLER, f"--source=dir:{man}", f"--nginx-prefix={tmp_path}/s",
        f"--nginx-config={cfg}", "--metrics-address=127.0.0.1:0"])
    if reason is None:
        # "; evil" is only text inside the quoted format: accepted.
        eventually(lambda: "local source: following" in p.log_text())
        return
    assert p.popen.wait(10) == 1
    assert "--nginx-config: " + reason in p.log_text()
