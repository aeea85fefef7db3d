"""The folder source reads only what inotify names (issue 14): a change in
one of many files reads that file alone, deletions withdraw their objects,
a ConfigMap-style `..data` swap is followed through the links, and when
inotify cannot tell what changed (its queue overflowed) the folder is
rescanned, so a change whose event was lost is still served."""
import os
import re
import signal

import pytest

from testbed.controller import eventually
from test_controller_local import (LocalController, backends, ingress,  # noqa: F401
                                   service)

NAMED = re.compile(r"local source: (\d+) files named by inotify: (\d+) "
                   r"looked at, (\d+) read, of (\d+) in \d+ ms")
RESCAN = re.compile(r"local source: rescan \(([^)]*)\): (\d+) looked at, "
                    r"(\d+) read, of (\d+) in \d+ ms")
FILLERS = 60


@pytest.fixture
def dctl(procs, tmp_path, cluster_dns, backends):  # noqa: F811
    """The controller at debug level over a folder of FILLERS Services
    besides the backends' own."""
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=("--log-level=debug",))
    for i in range(FILLERS):
        (c.dir / f"fill{i}.yaml").write_text(service(f"fill{i}", 8000 + i))
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    # Every file read: the fillers, the services and the class.
    eventually(lambda: any(int(total) == FILLERS + 4
                           for _, _, _, total in passes(c)[0]))
    c.settled()
    return c


def passes(c):
    text = c.proc.log_text(tail=200000)
    return NAMED.findall(text), RESCAN.findall(text)


def test_a_change_in_one_of_many_files_reads_that_file_alone(dctl):
    p = dctl.ports
    dctl.write("web", ingress("web", [("web.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    dctl.wait_served("web.test", "/", "alpha")
    dctl.settled()
    before = len(passes(dctl)[0])
    dctl.write("web", ingress("web", [("web.test", [
        ("/", "Prefix", "beta", p["beta"])])]))
    dctl.wait_served("web.test", "/", "beta")
    named, rescans = passes(dctl)
    assert rescans == []
    # tmp + rename: one name, one stat, one read, of every file there.
    total = FILLERS + 3 + 2         # fillers, services, class, web
    assert ("1", "1", "1", str(total)) in named[before:], named[before:]
    assert all(looked == "1" for _, looked, _, _ in named[before:]), named
    # A deleted file withdraws its Ingress, reading nothing.
    before = len(named)
    dctl.delete("web")
    dctl.wait_status("web.test", "/", 404)
    named, rescans = passes(dctl)
    assert rescans == []
    assert ("1", "1", "0", str(total - 1)) in named[before:], named[before:]


def test_an_object_moved_to_another_file_stays(dctl):
    p = dctl.ports
    dctl.write("a", ingress("moved", [("moved.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    dctl.wait_served("moved.test", "/", "alpha")
    # The same Ingress in a second file, then the first file deleted.
    dctl.write("b", ingress("moved", [("moved.test", [
        ("/", "Prefix", "beta", p["beta"])])]))
    dctl.wait_served("moved.test", "/", "beta")
    dctl.delete("a")
    eventually(lambda: len(passes(dctl)[0]) and
               passes(dctl)[0][-1][:3] == ("1", "1", "0"))
    dctl.settled()
    assert dctl.served_by("moved.test") == "beta"


def test_a_configmap_style_data_swap_is_followed_through_links(dctl):
    """kubelet's atomic writer: the files are links to ..data/NAME, ..data
    a link to a timestamped folder, replaced by a rename."""
    p = dctl.ports
    d = dctl.dir
    (d / "..2026_1").mkdir()
    (d / "..2026_1" / "cm.yaml").write_text(ingress("cm", [("cm.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    os.symlink("..2026_1", d / "..data")
    os.symlink("..data/cm.yaml", d / "cm.yaml")
    dctl.wait_served("cm.test", "/", "alpha")
    (d / "..2026_2").mkdir()
    (d / "..2026_2" / "cm.yaml").write_text(ingress("cm", [("cm.test", [
        ("/", "Prefix", "gamma", p["gamma"])])]))
    os.symlink("..2026_2", d / "..data_tmp")
    os.replace(d / "..data_tmp", d / "..data")
    dctl.wait_served("cm.test", "/", "gamma")
    assert passes(dctl)[1] == []


def test_an_inotify_queue_overflow_falls_back_to_a_rescan(dctl):
    """The controller stopped while the folder changes more often than the
    kernel queues events: the lost events are made good by a rescan."""
    p = dctl.ports
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        queue = int(f.read())
    dctl.settled()
    os.kill(dctl.proc.pid, signal.SIGSTOP)
    try:
        names = [dctl.dir / "fill0.yaml", dctl.dir / "fill1.yaml"]
        for i in range(queue + 100):    # alternate: no two events merge
            os.utime(names[i % 2])
        # Written after the queue is full: its events are lost.
        dctl.write("late", ingress("late", [("late.test", [
            ("/", "Prefix", "alpha", p["alpha"])])]))
    finally:
        os.kill(dctl.proc.pid, signal.SIGCONT)
    dctl.wait_served("late.test", "/", "alpha")
    text = dctl.proc.log_text(tail=200000)
    assert "the inotify queue overflowed: rescanning" in text
    rescans = passes(dctl)[1]
    assert [r[0] for r in rescans] == ["inotify queue overflow"], rescans
    why, looked, read, total = rescans[0]
    assert int(looked) == int(total) == FILLERS + 3 + 2
    # late.yaml and the two touched files: the others are unchanged.
    assert int(read) == 3
