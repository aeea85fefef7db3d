"""--hosts: local records answered authoritatively, reloaded when the file
changes and on SIGHUP."""
import os
import signal
import time

import dns.flags
import dns.rcode
import dns.rdatatype
import dns.reversename


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


def ptr_names(msg):
    return [r.to_text() for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.PTR for r in rrset]


def reverse(addr):
    return dns.reversename.from_address(addr).to_text()


def test_ptr_for_hosts_addresses_gives_the_first_name_listed(tmp_path,
                                                             cluster_dns,
                                                             dnscache_factory):
    # dnsmasq's hosts-file rule: one PTR per address, the first name of the
    # first line that lists it (aliases and later lines are not returned).
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.10 web.default.svc.cluster.local web\n"
                     "127.0.0.10 other.local\n"
                     "127.0.0.11 web.default.svc.cluster.local\n"
                     "fd00::10 web.default.svc.cluster.local\n"
                     "fd00::11 six.local six-alias.local\n")
    dc = dnscache_factory(hosts=str(hosts), local_ttl=7)
    for addr, want in [("127.0.0.10", "web.default.svc.cluster.local."),
                       ("127.0.0.11", "web.default.svc.cluster.local."),
                       ("fd00::10", "web.default.svc.cluster.local."),
                       ("fd00::11", "six.local.")]:
        r = dc.query(reverse(addr), "PTR")
        assert r.rcode() == dns.rcode.NOERROR, addr
        assert r.flags & dns.flags.AA, addr
        assert ptr_names(r) == [want], addr
        assert all(rr.ttl == 7 for rr in r.answer), addr
    # Case as asked is echoed; the answer is the same (over TCP too).
    r = dc.query(reverse("127.0.0.10").upper(), "PTR", tcp=True)
    assert ptr_names(r) == ["web.default.svc.cluster.local."]
    assert str(r.question[0].name) == reverse("127.0.0.10").upper()
    # ANY at the reverse name gives the PTR as well.
    assert ptr_names(dc.query(reverse("fd00::11"), "ANY")) == ["six.local."]
    assert dc.metric("portico_dnscache_local_answers_total") == 6


def test_ptr_for_other_addresses_and_other_types_is_forwarded(
        tmp_path, cluster_dns, dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.10 web.local\n")
    # The cluster DNS (real dnsmasq) answers PTR for its own records.
    cluster_dns.set("db.cluster.local", "10.9.0.7")
    dc = dnscache_factory(hosts=str(hosts))
    sent = dc.metric("portico_dnscache_upstream_queries_total")  # readiness
    r = dc.query(reverse("10.9.0.7"), "PTR")
    assert r.rcode() == dns.rcode.NOERROR
    assert ptr_names(r) == ["db.cluster.local."]
    assert not r.flags & dns.flags.AA              # not ours: forwarded
    assert dc.metric("portico_dnscache_local_answers_total") == 0
    assert dc.metric("portico_dnscache_upstream_queries_total") == sent + 1
    # Other types at a local address's reverse name go upstream too, as
    # with dnsmasq.
    r = dc.query(reverse("127.0.0.10"), "TXT")
    assert not r.flags & dns.flags.AA and not r.answer
    assert dc.metric("portico_dnscache_upstream_queries_total") >= sent + 2
    assert dc.metric("portico_dnscache_local_answers_total") == 0


def test_ptr_answers_follow_hosts_reloads(tmp_path, cluster_dns,
                                          dnscache_factory):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.50 old.local\nfd00::50 old6.local\n")
    cluster_dns.set("upstream-name.cluster.local", "127.0.0.51")
    # Two workers, each with its own table: every query (new source port,
    # so either worker) must see the reload.
    dc = dnscache_factory(hosts=str(hosts), threads=2)
    assert ptr_names(dc.query(reverse("127.0.0.50"), "PTR")) == ["old.local."]
    assert ptr_names(dc.query(reverse("127.0.0.51"), "PTR")) == [
        "upstream-name.cluster.local."]
    # Changed file (atomic replace): new names, a removed address is no
    # longer answered locally, a newly listed one is.
    tmp = tmp_path / "hosts.new"
    tmp.write_text("127.0.0.50 new.local\n127.0.0.51 mine.local\n")
    os.replace(tmp, hosts)
    wait_ptr(dc, reverse("127.0.0.50"), ["new.local."])
    assert ptr_names(dc.query(reverse("127.0.0.51"), "PTR")) == ["mine.local."]
    r = dc.query(reverse("fd00::50"), "PTR")
    assert not r.flags & dns.flags.AA and not ptr_names(r)
    # SIGHUP without a visible change, and a broken file keeps the table.
    st = os.stat(hosts)
    with open(hosts, "r+") as f:
        f.write("127.0.0.50 hup.local\n")
    os.utime(hosts, ns=(st.st_atime_ns, st.st_mtime_ns))
    dc.proc.signal(signal.SIGHUP)
    wait_ptr(dc, reverse("127.0.0.50"), ["hup.local."])
    hosts.unlink()
    dc.proc.signal(signal.SIGHUP)
    time.sleep(1.3)
    assert ptr_names(dc.query(reverse("127.0.0.50"), "PTR")) == ["hup.local."]


def wait_ptr(dc, name, want, timeout=4.0, repeat=8):
    """Waits until name's PTR answer is want, then checks it repeat more
    times (from new sockets, so from every worker)."""
    deadline = time.monotonic() + timeout
    while True:
        got = ptr_names(dc.query(name, "PTR"))
        if got == want:
            break
        assert time.monotonic() < deadline, f"{name}: still {got}, want {want}"
        time.sleep(0.1)
    time.sleep(1.1)                 # every worker's change check has run
    for _ in range(repeat):
        assert ptr_names(dc.query(name, "PTR")) == want
