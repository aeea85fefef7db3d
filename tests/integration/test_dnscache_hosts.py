"""--hosts: local records answered authoritatively, reloaded when the file
changes and on SIGHUP."""
import os
import signal
import time

import dns.flags
import dns.rcode
import dns.rdatatype


def records(msg, rdtype="A"):
    return {r.to_text() for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.from_text(rdtype) for r in rrset}


def wait_answer(dc, name, want, rdtype="A", timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = records(dc.query(name, rdtype), rdtype)
        if got == want:
            return
        assert time.monotonic() < deadline, f"{name}: still {got}, want {want}"
        time.sleep(0.1)


def test_hosts_names_are_answered_authoritatively(tmp_path, cluster_dns,
                                                  dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("# demo services\n"
                     "127.0.0.10 web.default.svc.cluster.local web\n"
                     "127.0.0.11 web.default.svc.cluster.local\n"
                     "::10 web.default.svc.cluster.local\n")
    cluster_dns.set("web.default.svc.cluster.local", "10.9.0.1")   # shadowed
    dc = dnscache_factory(hosts=str(hosts), local_ttl=7)
    r = dc.query("WEB.default.svc.cluster.local")
    assert r.flags & dns.flags.AA
    assert records(r) == {"127.0.0.10", "127.0.0.11"}
    assert all(rr.ttl == 7 for rr in r.answer)
    assert str(r.question[0].name) == "WEB.default.svc.cluster.local."
    assert records(dc.query("web.default.svc.cluster.local", "AAAA"),
                   "AAAA") == {"::10"}
    assert records(dc.query("web")) == {"127.0.0.10"}
    # Other types of a local name: NODATA, authoritative.
    r = dc.query("web", "MX")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert dc.metric("portico_dnscache_local_answers_total") >= 4
    assert dc.metric("portico_dnscache_hosts_entries") == 2


def test_hosts_file_changes_are_picked_up(tmp_path, cluster_dns, dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.20 api.local\n")
    dc = dnscache_factory(hosts=str(hosts))
    assert records(dc.query("api.local")) == {"127.0.0.20"}
    tmp = tmp_path / "hosts.new"
    tmp.write_text("127.0.0.21 api.local\n127.0.0.22 new.local\n")
    os.replace(tmp, hosts)                      # how ConfigMaps update
    wait_answer(dc, "api.local", {"127.0.0.21"}, timeout=4)
    assert records(dc.query("new.local")) == {"127.0.0.22"}


def test_sighup_reloads_hosts_even_without_a_visible_change(tmp_path,
                                                             cluster_dns,
                                                             dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.30 db.local\n")
    dc = dnscache_factory(hosts=str(hosts))
    assert records(dc.query("db.local")) == {"127.0.0.30"}
    st = os.stat(hosts)
    # Same size, same inode, same mtime: only SIGHUP can notice this.
    with open(hosts, "r+") as f:
        f.write("127.0.0.31 db.local\n")
    os.utime(hosts, ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(1.2)                             # the change check ran
    assert records(dc.query("db.local")) == {"127.0.0.30"}
    dc.proc.signal(signal.SIGHUP)
    wait_answer(dc, "db.local", {"127.0.0.31"}, timeout=2)
    assert dc.proc.alive()


def test_broken_hosts_file_keeps_the_previous_records(tmp_path, cluster_dns,
                                                      dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.40 keep.local\n")
    dc = dnscache_factory(hosts=str(hosts))
    hosts.unlink()
    dc.proc.signal(signal.SIGHUP)
    time.sleep(1.3)
    assert dc.proc.alive()
    assert records(dc.query("keep.local")) == {"127.0.0.40"}
    hosts.write_bytes(b"\x00\xff garbage\n127.0.0.41 keep.local\n")
    wait_answer(dc, "keep.local", {"127.0.0.41"}, timeout=4)
