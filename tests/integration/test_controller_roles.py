"""The pod's shape as plain processes: `--role=nginx` (the nginx
container) runs nginx from the state folder, `--role=controller` renders
and signals it through the shared folder and process namespace. The
nginx master killed: the nginx role restarts it, the controller adopts the
new master and keeps reloading it; the controller killed: nginx serves on;
SIGTERM to the nginx role: drained and gone, no zombie."""
import os
import signal
import time

from testbed.controller import CONTROLLER, eventually
from test_controller_lifecycle import (Load, master_of, processes_with,
                                       setup, zombies_of)  # noqa: F401
from test_controller_local import LocalController, ingress, service


def test_nginx_role_restarts_the_master_and_the_controller_follows(setup):
    s = setup
    prefix = s["tmp"] / "state"
    prefix.mkdir()
    nginx_role = s["procs"].start("nginx-role", [
        CONTROLLER, "--role=nginx", f"--nginx-prefix={prefix}",
        "--drain-period=1s", "--shutdown-timeout=20s"])
    ctl = LocalController(s["procs"], s["tmp"], s["dns"],
                          extra=["--role=controller"])
    a, b = s["backends"]["alpha"], s["backends"]["beta"]
    ctl.write("svc-alpha", service("alpha", a.port))
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              a.port)])]))
    ctl.wait_served("a.test", "/", "alpha")
    master = master_of(ctl)
    # nginx is the nginx role's child, not the controller's.
    with open(f"/proc/{master}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == nginx_role.pid

    with Load(ctl.http_port, "a.test") as load:
        time.sleep(0.5)
        os.kill(master, signal.SIGKILL)
        eventually(lambda: master_of(ctl) not in (None, master), timeout=10)
        time.sleep(1)
    assert load.outcomes().get("200", 0) > 0
    assert "restarting nginx" in nginx_role.log_text()
    # A new Service port: nginx.conf changes, the controller must reload
    # the new master it has not started.
    ctl.write("svc-beta", service("beta", b.port))
    ctl.write("b", ingress("b", [("b.test", [("/", "Prefix", "beta",
                                              b.port)])]))
    ctl.wait_served("b.test", "/", "beta")
    new_master = master_of(ctl)
    assert "adopted the running master %d" % new_master in ctl.proc.log_text()

    # The controller killed: nginx serves on.
    ctl.proc.kill()
    assert ctl.served_by("a.test") == "alpha"
    assert master_of(ctl) == new_master

    # SIGTERM to the nginx role: drained, stopped, nothing left.
    nginx_role.signal(signal.SIGTERM)
    assert nginx_role.popen.wait(30) == 0
    assert processes_with(os.fsencode(str(prefix))) == []
    assert zombies_of(os.getpid()) == []
    assert "draining: master %d keeps accepting for 1000 ms" % new_master \
        in nginx_role.log_text()
