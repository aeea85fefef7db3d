"""The controller writes a large route table in shards (issue 14,
docs/routes.md "Format 3"): above --route-shard-hosts hosts the table is a
head naming content-addressed files in PREFIX/routes.d, each host in the
shard its name's CRC-32 picks; a change writes, checks and has the workers
re-read only the shards it touches, while the others stay the same files;
files no served head names are removed; an Ingress whose shard line
`nginx -t` refuses is left out by that line; and the table goes back to
one file when the hosts become few."""
import os
import re
import time
import zlib

import pytest

from testbed.controller import eventually
from test_controller_local import (NGINX_ARGS, LocalController,  # noqa: F401
                                   backends, ingress, nginx_wrapper, service)

PER_SHARD = 2
HOSTS = 12          # 12 hosts of 2 a shard: 8 shards
CHECKED = re.compile(r"routes: table (\w+) \(\d+ bytes, \d+ hosts, \d+ "
                     r"ingresses; (\d+) of (\d+) shards checked, (\d+) "
                     r"made\) swapped in")


def host(i):
    return f"h{i}.shards.test"


def head(c):
    return (c.prefix / "routes").read_text()


def shard_names(c):
    """{index: name} of the live head's shards."""
    return {int(i): n for i, n in re.findall(r"^shard (\d+) ([0-9a-z]+)$",
                                              head(c), re.M)}


def shard_files(c):
    return sorted(os.listdir(c.prefix / "routes.d"))


def inode(c, name):
    return os.stat(c.prefix / "routes.d" / name).st_ino


def write_hosts(c, n, backend="alpha"):
    for i in range(n):
        c.write(f"ing{i}", ingress(f"ing{i}", [(host(i), [
            ("/", "Prefix", backend, c.ports[backend])])]))


@pytest.fixture
def sctl(procs, tmp_path, cluster_dns, backends):  # noqa: F811
    """The controller writing shards of PER_SHARD hosts, serving HOSTS
    hosts of one Ingress each."""
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=(f"--route-shard-hosts={PER_SHARD}",))
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    write_hosts(c, HOSTS)
    for i in range(HOSTS):
        c.wait_served(host(i), "/", "alpha")
    return c


def test_a_table_of_many_hosts_is_a_head_and_shards_each_host_where_its_crc_says(
        sctl):
    text = head(sctl)
    assert text.startswith("portico-routes 3\n")
    assert "\nshards 8\n" in text
    names = shard_names(sctl)
    assert names and set(names.values()) <= set(shard_files(sctl))
    seen = set()
    for index, name in names.items():
        body = (sctl.prefix / "routes.d" / name).read_text()
        assert body.startswith("portico-routes-shard 1\n")
        hosts = re.findall(r"^host (\S+)", body, re.M)
        assert hosts
        for h in hosts:
            assert zlib.crc32(h.encode()) % 8 == index, (h, index)
        # every upstream its rules use is in the same file, and no other
        used = set(re.findall(r"^(?:plain|prefix|exact) \S+ (\S+)", body,
                              re.M))
        defined = set(re.findall(r"^upstream (\S+) ", body, re.M))
        assert used == defined
        seen.update(hosts)
    assert {host(i) for i in range(HOSTS)} <= seen
    for i in range(HOSTS):
        assert sctl.served_by(host(i)) == "alpha"


def test_a_change_rewrites_and_checks_only_its_shard_and_old_files_go(sctl):
    # one change first: the model's memos are replayed from then on, and
    # a replayed server the build before replayed too is "unchanged"
    sctl.write("filler", ingress("filler", [("filler.shards.test", [
        ("/", "Prefix", "alpha", sctl.ports["alpha"])])]))
    sctl.wait_served("filler.shards.test", "/", "alpha")
    before = shard_names(sctl)
    inodes = {n: inode(sctl, n) for n in before.values()}
    changed = zlib.crc32(host(3).encode()) % 8
    sctl.write("ing3", ingress("ing3", [(host(3), [
        ("/", "Prefix", "beta", sctl.ports["beta"])])]))
    sctl.wait_served(host(3), "/", "beta")
    after = shard_names(sctl)
    assert after.keys() == before.keys()
    assert [i for i in after if after[i] != before[i]] == [changed]
    for i, name in after.items():
        if i != changed:
            assert inode(sctl, name) == inodes[name]
    # the swap checked that one shard alone, and made it and the default
    # section's again (the others: the render before's, kept)
    version = re.match(r"portico-routes 3\nversion (\w+)\n",
                       head(sctl)).group(1)
    m = [x for x in CHECKED.finditer(sctl.proc.log_text())
         if x.group(1) == version]
    assert m and m[-1].group(2) == "1"
    assert int(m[-1].group(3)) == len(after)
    # (and the filler's: new in the build before)
    made = {changed, zlib.crc32(b"*") % 8,
            zlib.crc32(b"filler.shards.test") % 8}
    assert int(m[-1].group(4)) == len(made)
    # the replaced shard's file is removed once every worker has the head
    eventually(lambda: set(shard_files(sctl)) == set(after.values()))
    assert before[changed] not in shard_files(sctl)
    for i in range(HOSTS):
        assert sctl.served_by(host(i)) == ("beta" if i == 3 else "alpha")


def swap_of(c, version):
    """(checked, shards, made) of the swap to version, from the log."""
    m = [x for x in CHECKED.finditer(c.proc.log_text())
         if x.group(1) == version]
    assert m, version
    return tuple(int(g) for g in m[-1].groups()[1:])


def test_an_idle_spell_after_a_start_readies_the_next_change_to_make_one_shard(
        procs, tmp_path, cluster_dns, backends):  # noqa: F811
    # 40 hosts of 2 a shard: 32 shards, all made at the start (more than
    # RELOAD_WARM_SHARDS, 16); the idle spell's build replays the memos
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=(f"--route-shard-hosts={PER_SHARD}",))
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    write_hosts(c, 40)
    c.wait_served(host(39), "/", "alpha")
    assert "\nshards 32\n" in head(c)
    time.sleep(3)               # RELOAD_TRIM_IDLE_MS and the build
    c.write("ing5", ingress("ing5", [(host(5), [
        ("/", "Prefix", "beta", c.ports["beta"])])]))
    c.wait_served(host(5), "/", "beta")
    version = re.match(r"portico-routes 3\nversion (\w+)\n",
                       head(c)).group(1)
    checked, shards, made = swap_of(c, version)
    assert checked == 1
    assert made == len({zlib.crc32(host(5).encode()) % 32,
                        zlib.crc32(b"*") % 32})
    assert c.served_by(host(6)) == "alpha"


def test_the_table_is_one_file_again_when_the_hosts_become_few(sctl):
    for i in range(1, HOSTS):
        sctl.delete(f"ing{i}")
    eventually(lambda: head(sctl).startswith("portico-routes 2\n"))
    sctl.settled()
    assert sctl.served_by(host(0)) == "alpha"
    assert sctl.get(host(5)).status == 404
    eventually(lambda: shard_files(sctl) == [])


# The real nginx, except that `nginx -t` refuses the line of the shard
# holding host refused.shards.test, in the module's words.
REFUSING_SHARD_NGINX = NGINX_ARGS + """dir=$(dirname "$conf")
if [ -n "$test" ]; then
    grep '^shard ' "$dir/routes" | while read -r _ i name; do
        f="$dir/routes.d/$name"
        line=$(grep -n '^host refused.shards.test' "$f" | cut -d: -f1)
        if [ -n "$line" ]; then
            echo "nginx: [emerg] portico_routes: shard $i \\"$f\\", line" \\
                 "$((line + 1)): injected refusal in $dir/routes:3" >&2
            exit 1
        fi
    done || exit 1
fi
exec /usr/sbin/nginx "$@"
"""


def test_an_ingress_whose_shard_line_nginx_t_refuses_is_left_out(
        procs, tmp_path, cluster_dns, backends):  # noqa: F811
    wrapper = nginx_wrapper(tmp_path, REFUSING_SHARD_NGINX)
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=(f"--route-shard-hosts={PER_SHARD}",
                               f"--nginx-binary={wrapper}"))
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    write_hosts(c, HOSTS)
    c.wait_served(host(HOSTS - 1), "/", "alpha")
    c.write("refused", ingress("refused", [("refused.shards.test", [
        ("/", "Prefix", "alpha", c.ports["alpha"])])]))
    c.write("late", ingress("late", [("late.shards.test", [
        ("/", "Prefix", "beta", c.ports["beta"])])]))
    c.wait_served("late.shards.test", "/", "beta")
    assert c.get("refused.shards.test").status == 404
    assert "refused.shards.test" not in c.routes()
    assert c.metric("portico_controller_ingresses", state="excluded") == 1
    assert re.search(r"ingress team/refused left out: nginx -t failed: "
                     r"portico_routes: shard \d+ \"[^\"]+\", line \d+: "
                     r"injected refusal", c.proc.log_text())
    for i in range(HOSTS):
        assert c.served_by(host(i)) == "alpha"
