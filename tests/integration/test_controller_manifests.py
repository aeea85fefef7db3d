"""Bad manifests in local mode (issue 18): a file that fails to parse is
logged once per version, not at every rescan; objects over the API
server's limits (1.5 MiB per object, 256 KiB of annotations) are refused
with a reason and their previous version kept; a 5 MB manifest leaves the
controller's memory where it was."""
import json
import re
import time

import pytest

from testbed.controller import eventually
from test_controller_local import ctl, backends, ingress  # noqa: F401


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def test_invalid_file_is_logged_once_per_version_not_per_rescan(ctl):
    p = ctl.ports
    ctl.write("bad", "kind: Ingress\nmetadata: {name: [unclosed\n")
    eventually(lambda: "bad.yaml" in ctl.proc.log_text())
    # Other files change: every change rescans the folder.
    for i in range(4):
        ctl.write(f"ok{i}", ingress(f"ok{i}", [(f"ok{i}.test", [
            ("/", "Prefix", "alpha", p["alpha"])])]))
        ctl.wait_served(f"ok{i}.test", "/", "alpha")
    assert ctl.proc.log_text().count("bad.yaml:") == 1
    # A new version of the file, still broken: one more line.
    ctl.write("bad", "kind: Ingress\nmetadata: {name: [still unclosed\n")
    eventually(lambda: ctl.proc.log_text().count("bad.yaml:") == 2)
    ctl.write("ok9", ingress("ok9", [("ok9.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("ok9.test", "/", "alpha")
    assert ctl.proc.log_text().count("bad.yaml:") == 2


def test_annotations_over_256k_are_refused_and_the_previous_version_kept(ctl):
    p = ctl.ports
    ctl.write("big", ingress("big", [("big.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("big.test", "/", "alpha")
    ctl.write("big", ingress("big", [("big.test", [
        ("/", "Prefix", "beta", p["beta"])])],
        annotations={f"example.com/a{i}": "x" * 1000 for i in range(300)}))
    eventually(lambda: "Ingress team/big refused: annotations of" in
               ctl.proc.log_text())
    assert re.search(r"annotations of \d+ bytes in all are larger than the "
                     r"API server's limit of 262144 bytes",
                     ctl.proc.log_text())
    # The refused update changed nothing: alpha still serves.
    time.sleep(0.5)
    ctl.settled()
    assert ctl.served_by("big.test") == "alpha"


def test_a_5mb_manifest_is_refused_and_memory_returns(ctl):
    p = ctl.ports
    ctl.write("small", ingress("small", [("small.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("small.test", "/", "alpha")
    time.sleep(0.5)
    before = rss_kib(ctl.proc.pid)
    huge = ingress("huge", [("huge.test", [
        ("/", "Prefix", "beta", p["beta"])])],
        annotations={"example.com/blob": "y" * (5 * 1024 * 1024)})
    ctl.write("huge", huge)
    eventually(lambda: "Ingress team/huge refused: object of" in
               ctl.proc.log_text(), timeout=20)
    assert re.search(r"object of \d+ bytes is larger than the API server's "
                     r"limit of 1572864 bytes", ctl.proc.log_text())
    assert ctl.get("huge.test", "/").status == 404
    ctl.write("small2", ingress("small2", [("small2.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("small2.test", "/", "alpha")
    after = rss_kib(ctl.proc.pid)
    print(f"\ncontroller RSS {before} KiB before the 5 MB manifest, "
          f"{after} KiB after")
    # Parsing held ~3 copies of 5 MiB; all of it is given back.
    assert after - before < 3 * 1024, (before, after)
    # The refusal is logged once, not at every rescan.
    assert ctl.proc.log_text().count("team/huge refused") == 1


def test_a_file_over_8mib_is_refused_unread(ctl):
    ctl.write("giant", "# " + "z" * (9 * 1024 * 1024) + "\n")
    eventually(lambda: "giant.yaml: refused unread: " in ctl.proc.log_text())
    assert re.search(r"giant.yaml: refused unread: \d+ bytes, more than the "
                     r"limit of 8388608", ctl.proc.log_text())
