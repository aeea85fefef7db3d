#!/usr/bin/python3
"""Instructions per cached answer in portico-dnscache's own code (user
space, counted by valgrind's callgrind), for two binaries side by side:
a figure that other jobs on a shared machine cannot disturb, unlike QPS.

    bench/dns/instructions.py CURRENT BASELINE [QUERIES]

Each binary runs under callgrind next to a dnsmasq source (1000 names from
a hosts file); the names are asked twice (all cached after that), the
counters are zeroed, QUERIES more answers are asked for at a low fixed
rate (dnsperf -Q), and the counters are dumped. The kernel's share (the
larger one: sendmmsg, recvmmsg) is not counted. Prints one Markdown line
per binary and the ratio. Everything listens on 127.0.0.0/8 and is
stopped on exit.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the same helpers as make bench-dns)

NAMES = 1000
RATE = 1000                 # queries per second under valgrind


def instructions(binary, src, qfile, queries, work, tag):
    port = bench.free_port(bench.SRV_ADDR)
    out = os.path.join(work, f"callgrind.{tag}.out")
    p = bench.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                     binary, "--listen", f"{bench.SRV_ADDR}:{port}", "--upstream", src,
                     "--metrics", "off", "--max-ttl", "3600"],
                    os.path.join(work, f"{tag}.log"))
    bench.dns_ready(bench.SRV_ADDR, port, "svc-0.default.svc.cluster.local", timeout=60)
    bench.dnsperf(port, qfile, ["-n", "2", "-c", "1", "-Q", str(RATE)], 120)
    subprocess.run(["callgrind_control", "--zero", str(p.pid)], check=True,
                   capture_output=True)
    st = bench.parse_stats(bench.dnsperf(
        port, qfile, ["-n", str(queries // NAMES), "-c", "1", "-Q", str(RATE)], 600))
    subprocess.run(["callgrind_control", "--dump", str(p.pid)], check=True,
                   capture_output=True)
    time.sleep(0.5)
    bench.stop(p)
    total = 0
    for f in glob.glob(out + "*"):
        with open(f) as fh:
            for line in fh:
                m = re.match(r"summary: (\d+)", line)
                if m:
                    total = max(total, int(m.group(1)))
    answered = st["completed"]
    return total, answered


def main():
    current, baseline = sys.argv[1], sys.argv[2]
    queries = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    work = tempfile.mkdtemp(prefix="bench-dns-ir-")
    try:
        hosts = os.path.join(work, "hosts.txt")
        qfile = os.path.join(work, "queries.txt")
        with open(hosts, "w") as f:
            for i in range(NAMES):
                f.write(f"10.96.{i // 256}.{i % 256} svc-{i}.default.svc.cluster.local\n")
        with open(qfile, "w") as f:
            for i in range(NAMES):
                f.write(f"svc-{i}.default.svc.cluster.local A\n")
        src_port = bench.free_port(bench.SRC_ADDR)
        bench.start(["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                     f"--addn-hosts={hosts}", "--local=/cluster.local/",
                     f"--listen-address={bench.SRC_ADDR}", f"--port={src_port}",
                     "--bind-interfaces", "--local-ttl=3600", "--cache-size=0",
                     "--user=root", "--group=root", "--pid-file="],
                    os.path.join(work, "source.log"))
        bench.dns_ready(bench.SRC_ADDR, src_port, "svc-0.default.svc.cluster.local")
        src = f"{bench.SRC_ADDR}:{src_port}"
        res = {}
        for tag, binary in (("current", current), ("baseline", baseline)):
            res[tag] = instructions(binary, src, qfile, queries, work, tag)
        per = {t: ir / max(1, n) for t, (ir, n) in res.items()}
        print(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"`bench/dns/instructions.py {current} {baseline} {queries}`:")
        for tag in res:
            ir, n = res[tag]
            print(f"- {tag}: {ir} instructions for {n:.0f} cached answers, "
                  f"{per[tag]:.0f} per answer")
        print(f"- current/baseline: {per['current'] / per['baseline']:.3f}")
    finally:
        bench.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
