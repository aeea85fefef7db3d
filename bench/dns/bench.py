#!/usr/bin/python3
"""make bench-dns: portico-dnscache vs dnsmasq 2.90 vs unbound 1.17 on the
same 1000-name all-hit query set, with dnsperf, in one run, alternating.

Measures (method of shared/reference/toolchain.md section 4):
  - QPS at saturation: dnsperf -l SECS -c 4 -T 2 -q 200, median of ROUNDS
    alternating rounds;
  - avg/p50/p99 latency at a fixed 50k qps: dnsperf -Q 50000 -v, per-query
    latencies sorted;
  - RSS of portico-dnscache (and dnsmasq, for scale) holding 100k names;
  - failover: first upstream a UDP blackhole, 200 cache-miss queries
    (10 in flight), all answered?, added latency vs a healthy-only run.

With BENCH_BASELINE=/path/to/an/older/portico-dnscache, that binary runs
next to the current one (1 thread, same flags) in the same rounds, and the
report gives the current/baseline QPS ratio per round (median and range)
and both p99s at 50k qps: how a change compares, measured side by side.
BENCH_AB=1 (with BENCH_BASELINE) measures only those two, in ROUNDS pairs
of saturation runs (A B, then B A, ...) and ROUNDS pairs of runs at a
fixed AB_QPS (below saturation on a busy machine) that measure the
server's CPU time per query (utime + stime from /proc) and p99, and skips
the rest: a focused comparison, less at the mercy of other jobs than QPS.

Everything listens on 127.0.0.0/8, every run is bounded (-l, timeouts) and
every process started here is killed on exit. Prints a Markdown report on
stdout (progress on stderr). Rounds alternate the server order (forward,
then backward) so that no server always runs right after the same one.
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PORTICO_BUILD", os.path.join(REPO, "build"))
DNSCACHE = os.path.join(BUILD, "portico-dnscache")
BASELINE = os.environ.get("BENCH_BASELINE")
CURRENT_1T = "portico-dnscache (1 thread)"
BASELINE_1T = "portico-dnscache baseline (1 thread)"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECS = int(os.environ.get("BENCH_SECONDS", "10"))
FIXED_QPS = 50000
AB_QPS = 20000
NAMES = 1000
RSS_NAMES = 100000
FAILOVER_NAMES = 200
FAILOVER_INFLIGHT = 10

SRC_ADDR = "127.0.0.2"          # the "cluster DNS": dnsmasq from a hosts file
HOLE_ADDR = "127.0.0.3"         # the blackholed upstream
SRV_ADDR = "127.0.0.1"

children = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port(host):
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def start(argv, logpath):
    f = open(logpath, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    children.append(p)
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)


def stop_all():
    for p in children:
        stop(p)


def dns_ready(addr, port, name, timeout=10):
    """Waits until the server answers a query (any rcode)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["dig", f"@{addr}", "-p", str(port), name, "+tries=1",
                            "+time=1", "+short"], capture_output=True, text=True)
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{addr}:{port} never answered")


def http_ready(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"healthz on {port} never answered")


def dnsperf(port, qfile, extra, timeout):
    argv = ["dnsperf", "-s", SRV_ADDR, "-p", str(port), "-d", qfile] + extra
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"dnsperf failed: {r.stderr or r.stdout}")
    return r.stdout


def parse_stats(out):
    def num(pat):
        m = re.search(pat, out)
        return float(m.group(1)) if m else float("nan")
    return {"qps": num(r"Queries per second:\s+([\d.]+)"),
            "lost": num(r"Queries lost:\s+(\d+)"),
            "completed": num(r"Queries completed:\s+(\d+)"),
            "avg": num(r"Average Latency \(s\):\s+([\d.]+)")}


def latencies(out):
    lat, rcodes = [], {}
    for line in out.splitlines():
        if line.startswith("> "):
            parts = line.split()
            rcodes[parts[1]] = rcodes.get(parts[1], 0) + 1
            lat.append(float(parts[-1]))
    return lat, rcodes


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return float("nan")


class Blackhole:
    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.received = 0
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopping:
            try:
                self.sock.recvfrom(4096)
                self.received += 1
            except socket.timeout:
                pass
            except OSError:
                return

    def stop(self):
        self.stopping = True
        self.t.join(2)
        self.sock.close()


def warm(servers, qfile):
    """Asks every name twice of every server: all cached afterwards."""
    for name, (port, _) in servers.items():
        dns_ready(SRV_ADDR, port, "svc-0.default.svc.cluster.local")
        dnsperf(port, qfile, ["-n", "2", "-c", "4"], 60)
        log(f"warmed {name}")


def orders(servers):
    """The servers of each round: forward, then backward, and so on."""
    for rnd in range(ROUNDS):
        order = list(servers.items())
        if rnd % 2:
            order.reverse()
        yield rnd, order


def saturation_rounds(servers, qfile):
    """QPS at saturation of each server in each round."""
    qps = {n: [] for n in servers}
    for rnd, order in orders(servers):
        for name, (port, _) in order:
            st = parse_stats(dnsperf(port, qfile, ["-l", str(SECS), "-c", "4", "-T", "2",
                                                   "-q", "200"], SECS + 30))
            qps[name].append(st["qps"])
            log(f"round {rnd + 1} {name}: {st['qps']:.0f} qps, lost {st['lost']:.0f}")
    return qps


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ab_compare(work, qfile, src):
    """BENCH_AB: the current binary against BENCH_BASELINE only."""
    servers = {}
    for binary, name in ((DNSCACHE, CURRENT_1T), (BASELINE, BASELINE_1T)):
        port, mport = free_port(SRV_ADDR), free_port(SRV_ADDR)
        p = start([binary, "--listen", f"{SRV_ADDR}:{port}", "--upstream", src,
                   "--metrics", f"127.0.0.1:{mport}", "--max-ttl", "3600"],
                  os.path.join(work, f"ab-{len(servers)}.log"))
        servers[name] = (port, p)
    warm(servers, qfile)
    qps = saturation_rounds(servers, qfile)
    cpu_us = {n: [] for n in servers}
    p99 = {n: [] for n in servers}
    for rnd, order in orders(servers):
        for name, (port, p) in order:
            before = cpu_seconds(p.pid)
            out = dnsperf(port, qfile, ["-l", str(SECS), "-c", "4", "-Q", str(AB_QPS),
                                        "-v"], SECS + 30)
            used = cpu_seconds(p.pid) - before
            vals, _ = latencies(out)
            vals.sort()
            cpu_us[name].append(used / max(1, len(vals)) * 1e6)
            p99[name].append(pct(vals, 99))
            log(f"cpu round {rnd + 1} {name}: {cpu_us[name][-1]:.2f} us/query, "
                f"p99 {p99[name][-1] * 1e6:.0f} us")
    ratios = sorted(c / b for c, b in zip(qps[CURRENT_1T], qps[BASELINE_1T]))
    cpu_ratios = sorted(c / b for c, b in zip(cpu_us[CURRENT_1T], cpu_us[BASELINE_1T]))
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"`BENCH_AB=1 BENCH_BASELINE={BASELINE} BENCH_ROUNDS={ROUNDS} make bench-dns`: "
          f"{ROUNDS} pairs of `dnsperf -l {SECS} -c 4 -T 2 -q 200` runs (A B, B A, ...), "
          f"1000 cached names, 1 thread each.")
    for name in servers:
        print(f"- {name}: saturation " + ", ".join(f"{v / 1000:.1f}k" for v in qps[name]) +
              f" qps; at {AB_QPS // 1000}k qps: CPU "
              + ", ".join(f"{v:.2f}" for v in cpu_us[name]) + " µs/query, p99 "
              + ", ".join(f"{v * 1e6:.0f}" for v in p99[name]) + " µs")
    print(f"- QPS current/baseline per pair: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}, range {ratios[0]:.3f}-{ratios[-1]:.3f}")
    print(f"- CPU per query current/baseline per pair: "
          f"{', '.join(f'{r:.3f}' for r in cpu_ratios)}; median "
          f"{statistics.median(cpu_ratios):.3f}, range {cpu_ratios[0]:.3f}-{cpu_ratios[-1]:.3f}")
    print(f"- p99 @{AB_QPS // 1000}k qps, median over pairs: current "
          f"{statistics.median(p99[CURRENT_1T]) * 1e6:.0f} µs, baseline "
          f"{statistics.median(p99[BASELINE_1T]) * 1e6:.0f} µs")


def main():
    work = tempfile.mkdtemp(prefix="bench-dns-")
    hosts = os.path.join(work, "hosts.txt")
    q1000 = os.path.join(work, "queries.txt")
    qrss = os.path.join(work, "queries-100k.txt")
    with open(hosts, "w") as f:
        for i in range(RSS_NAMES + NAMES + 2 * FAILOVER_NAMES):
            f.write(f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256} svc-{i}.default.svc.cluster.local\n")
    with open(q1000, "w") as f:
        for i in range(NAMES):
            f.write(f"svc-{i}.default.svc.cluster.local A\n")
    with open(qrss, "w") as f:
        for i in range(NAMES, NAMES + RSS_NAMES):
            f.write(f"svc-{i}.default.svc.cluster.local A\n")
    fo_healthy = os.path.join(work, "failover-baseline.txt")
    fo_hole = os.path.join(work, "failover-blackhole.txt")
    base = NAMES + RSS_NAMES
    with open(fo_healthy, "w") as f:
        for i in range(base, base + FAILOVER_NAMES):
            f.write(f"svc-{i}.default.svc.cluster.local A\n")
    with open(fo_hole, "w") as f:
        for i in range(base + FAILOVER_NAMES, base + 2 * FAILOVER_NAMES):
            f.write(f"svc-{i}.default.svc.cluster.local A\n")

    src_port = free_port(SRC_ADDR)
    start(["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
           f"--addn-hosts={hosts}", "--local=/cluster.local/", "--domain-needed",
           f"--listen-address={SRC_ADDR}", f"--port={src_port}", "--bind-interfaces",
           "--local-ttl=3600", "--cache-size=0", "--user=root", "--group=root",
           "--pid-file="], os.path.join(work, "source.log"))
    dns_ready(SRC_ADDR, src_port, "svc-0.default.svc.cluster.local")
    src = f"{SRC_ADDR}:{src_port}"
    if os.environ.get("BENCH_AB") and BASELINE:
        ab_compare(work, q1000, src)
        shutil.rmtree(work, ignore_errors=True)
        return

    servers = {}
    # Entries must not expire during the runs ("all hits"): the source's TTL
    # is 3600 s and portico's --max-ttl is raised to match.
    runs = [(DNSCACHE, 1, CURRENT_1T)]
    if BASELINE:
        runs.append((BASELINE, 1, BASELINE_1T))
    runs.append((DNSCACHE, 2, "portico-dnscache (2 threads)"))
    for binary, threads, name in runs:
        port = free_port(SRV_ADDR)
        mport = free_port(SRV_ADDR)
        tag = "baseline" if binary == BASELINE else f"t{threads}"
        p = start([binary, "--listen", f"{SRV_ADDR}:{port}", "--upstream", src,
                   "--metrics", f"127.0.0.1:{mport}", "--max-ttl", "3600",
                   "--threads", str(threads)],
                  os.path.join(work, f"dnscache-{tag}.log"))
        servers[name] = (port, p)
    port = free_port(SRV_ADDR)
    p = start(["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               f"--server={SRC_ADDR}#{src_port}", f"--listen-address={SRV_ADDR}",
               f"--port={port}", "--bind-interfaces", "--cache-size=10000",
               "--user=root", "--group=root", "--pid-file="],
              os.path.join(work, "dnsmasq.log"))
    servers["dnsmasq 2.90 (--cache-size=10000)"] = (port, p)
    port = free_port(SRV_ADDR)
    conf = os.path.join(work, "unbound.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  interface: {SRV_ADDR}
  port: {port}
  num-threads: 1
  so-reuseport: yes
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  chroot: ""
  username: ""
  directory: "{work}"
  pidfile: "{work}/unbound.pid"
  use-syslog: no
  logfile: ""
  module-config: "iterator"
  qname-minimisation: no
  domain-insecure: "cluster.local"
  msg-cache-size: 32m
  rrset-cache-size: 64m
  num-queries-per-thread: 1024
remote-control:
  control-enable: no
forward-zone:
  name: "cluster.local"
  forward-addr: {SRC_ADDR}@{src_port}
""")
    p = start(["unbound", "-d", "-c", conf], os.path.join(work, "unbound.log"))
    servers["unbound 1.17 (1 thread)"] = (port, p)

    warm(servers, q1000)
    qps = saturation_rounds(servers, q1000)

    lat = {}
    for name, (port, _) in servers.items():
        out = dnsperf(port, q1000, ["-l", str(SECS), "-c", "4", "-Q", str(FIXED_QPS), "-v"],
                      SECS + 30)
        vals, rcodes = latencies(out)
        vals.sort()
        st = parse_stats(out)
        lat[name] = {"avg": statistics.mean(vals) if vals else float("nan"),
                     "p50": pct(vals, 50), "p99": pct(vals, 99), "p999": pct(vals, 99.9),
                     "n": len(vals), "qps": st["qps"], "lost": st["lost"],
                     "rcodes": rcodes}
        log(f"50k {name}: avg {lat[name]['avg'] * 1e6:.0f} us p99 {lat[name]['p99'] * 1e6:.0f} us")

    for name, (port, p) in servers.items():
        stop(p)

    # RSS with 100k cached names: portico, and dnsmasq for scale.
    rss = {}
    port, mport = free_port(SRV_ADDR), free_port(SRV_ADDR)
    p = start([DNSCACHE, "--listen", f"{SRV_ADDR}:{port}", "--upstream", src,
               "--metrics", f"127.0.0.1:{mport}", "--max-ttl", "3600",
               "--cache-size", str(RSS_NAMES)], os.path.join(work, "dnscache-rss.log"))
    dns_ready(SRV_ADDR, port, "svc-0.default.svc.cluster.local")
    rss_before = rss_kb(p.pid)
    dnsperf(port, qrss, ["-n", "1", "-c", "4", "-q", "100"], 300)
    entries = metric(mport, "portico_dnscache_cache_entries")
    rss["portico-dnscache"] = (rss_kb(p.pid), rss_before, entries)
    stop(p)
    port = free_port(SRV_ADDR)
    p = start(["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               f"--server={SRC_ADDR}#{src_port}", f"--listen-address={SRV_ADDR}",
               f"--port={port}", "--bind-interfaces", f"--cache-size={RSS_NAMES}",
               "--user=root", "--group=root", "--pid-file="],
              os.path.join(work, "dnsmasq-rss.log"))
    dns_ready(SRV_ADDR, port, "svc-0.default.svc.cluster.local")
    before = rss_kb(p.pid)
    dnsperf(port, qrss, ["-n", "1", "-c", "4", "-q", "100"], 300)
    rss["dnsmasq 2.90"] = (rss_kb(p.pid), before, float("nan"))
    stop(p)
    log(f"rss: {rss}")

    # Failover: healthy-only baseline, then blackhole first.
    def failover_run(upstreams, qfile, tag):
        port, mport = free_port(SRV_ADDR), free_port(SRV_ADDR)
        argv = [DNSCACHE, "--listen", f"{SRV_ADDR}:{port}", "--metrics",
                f"127.0.0.1:{mport}"]
        for u in upstreams:
            argv += ["--upstream", u]
        p = start(argv, os.path.join(work, f"dnscache-{tag}.log"))
        # Ready by /healthz, not by a query: a query would find the dead
        # upstream before the measurement starts.
        http_ready(mport)
        out = dnsperf(port, qfile, ["-n", "1", "-c", "1", "-q", str(FAILOVER_INFLIGHT),
                                    "-t", "5", "-v"], 120)
        vals, rcodes = latencies(out)
        st = parse_stats(out)
        stop(p)
        return sorted(vals), rcodes, st

    base_vals, base_rc, _ = failover_run([src], fo_healthy, "failover-baseline")
    hole = Blackhole(HOLE_ADDR)
    try:
        fo_vals, fo_rc, fo_st = failover_run([f"{HOLE_ADDR}:{hole.port}", src], fo_hole,
                                             "failover")
    finally:
        hole.stop()
    base_p50 = pct(base_vals, 50)
    added = sorted(max(0.0, v - base_p50) for v in fo_vals)

    # ---- report ----
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else "?"
    except OSError:
        pass
    dnsmasq_name = "dnsmasq 2.90 (--cache-size=10000)"
    med = {n: statistics.median(v) for n, v in qps.items()}
    best_portico = max((n for n in med if n.startswith("portico") and n != BASELINE_1T),
                       key=lambda n: med[n])
    ratio = med[best_portico] / med[dnsmasq_name]
    p99_ok = lat[best_portico]["p99"] <= lat[dnsmasq_name]["p99"]
    p99_1t_ok = lat["portico-dnscache (1 thread)"]["p99"] <= lat[dnsmasq_name]["p99"]
    rss_mb = rss["portico-dnscache"][0] / 1024
    fo_all = len(fo_vals) == FAILOVER_NAMES and fo_rc.get("NOERROR", 0) == FAILOVER_NAMES
    fo_p99 = pct(added, 99)

    out = []
    out.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
               f"{platform.node()}: {cpu}, {os.cpu_count()} vCPU, "
               f"{platform.system()} {platform.release()}; the machine is shared with "
               f"other jobs, so expect ±20-40 % run-to-run. dnsperf runs on the same 2 vCPUs.")
    out.append("")
    out.append("Command: `make bench-dns` (bench/bench-dns -> bench/dns/bench.py). "
               f"Query set: {NAMES} names `svc-N.default.svc.cluster.local A`, all cached "
               f"(warmed with `dnsperf -n 2 -c 4`); source: dnsmasq from a hosts file, "
               f"`--local-ttl=3600`; portico runs with `--max-ttl 3600` so nothing expires "
               f"during the runs. Saturation: `dnsperf -l {SECS} -c 4 -T 2 -q 200`, "
               f"{ROUNDS} rounds alternating between servers, median shown. Fixed rate: "
               f"`dnsperf -l {SECS} -c 4 -Q {FIXED_QPS} -v`, percentiles over every query.")
    out.append("")
    out.append("| server | QPS at saturation (median; rounds) | @50k qps avg / p50 / p99 / p99.9 | lost @50k |")
    out.append("|---|---|---|---|")
    for n in servers:
        l = lat[n]
        rounds = ", ".join(f"{v / 1000:.0f}k" for v in qps[n])
        out.append(f"| {n} | {med[n] / 1000:.0f}k ({rounds}) | "
                   f"{l['avg'] * 1e6:.0f} / {l['p50'] * 1e6:.0f} / {l['p99'] * 1e6:.0f} / "
                   f"{l['p999'] * 1e6:.0f} µs | {l['lost']:.0f} of {l['n'] + l['lost']:.0f} |")
    out.append("")
    r_p, r_p0, r_e = rss["portico-dnscache"]
    r_d, r_d0, _ = rss["dnsmasq 2.90"]
    out.append(f"RSS with {RSS_NAMES // 1000}k cached names (`--cache-size {RSS_NAMES}`, "
               f"{RSS_NAMES // 1000}k distinct names queried once through the cache): "
               f"portico-dnscache {r_p / 1024:.1f} MB (empty: {r_p0 / 1024:.1f} MB; "
               f"cache_entries {r_e:.0f}); dnsmasq 2.90 with `--cache-size={RSS_NAMES}` "
               f"{r_d / 1024:.1f} MB (empty: {r_d0 / 1024:.1f} MB).")
    out.append("")
    out.append(f"Failover: upstreams `--upstream <blackhole> --upstream <source>` (the "
               f"blackhole is a UDP socket that reads and never answers), defaults "
               f"(`--upstream-timeout 50`), {FAILOVER_NAMES} cache-miss names, "
               f"`dnsperf -n 1 -c 1 -q {FAILOVER_INFLIGHT}` ({FAILOVER_INFLIGHT} in flight). "
               f"Answered: {fo_rc.get('NOERROR', 0)}/{FAILOVER_NAMES} NOERROR "
               f"(lost {fo_st['lost']:.0f}). Latency p50 / p99 / max: "
               f"{pct(fo_vals, 50) * 1e3:.2f} / {pct(fo_vals, 99) * 1e3:.2f} / "
               f"{(fo_vals[-1] if fo_vals else float('nan')) * 1e3:.2f} ms; healthy-only "
               f"baseline p50 {base_p50 * 1e3:.2f} ms; added latency (minus baseline p50) "
               f"p99 {fo_p99 * 1e3:.2f} ms, max {(added[-1] if added else float('nan')) * 1e3:.2f} ms.")
    out.append("")
    if BASELINE:
        ratios = sorted(c / b for c, b in zip(qps[CURRENT_1T], qps[BASELINE_1T]))
        out.append(f"Side by side with `BENCH_BASELINE={BASELINE}` (1 thread each, "
                   f"same flags, same rounds): current/baseline QPS per round "
                   f"{', '.join(f'{r:.3f}' for r in ratios)}; median "
                   f"{statistics.median(ratios):.3f} (range {ratios[0]:.3f}-{ratios[-1]:.3f}); "
                   f"p99 @50k qps current {lat[CURRENT_1T]['p99'] * 1e6:.0f} µs, baseline "
                   f"{lat[BASELINE_1T]['p99'] * 1e6:.0f} µs.")
        out.append("")
    out.append("Goals (issue 3):")
    out.append(f"- QPS >= 1.5 x dnsmasq in the same run: best portico config "
               f"({best_portico}) {ratio:.2f}x "
               f"(1 thread: {med['portico-dnscache (1 thread)'] / med[dnsmasq_name]:.2f}x) "
               f"-> {'met' if ratio >= 1.5 else 'NOT met'}.")
    out.append(f"- p99 @50k qps <= dnsmasq's ({lat[dnsmasq_name]['p99'] * 1e6:.0f} µs): "
               f"{best_portico} {lat[best_portico]['p99'] * 1e6:.0f} µs -> "
               f"{'met' if p99_ok else 'NOT met'}; 1 thread "
               f"{lat['portico-dnscache (1 thread)']['p99'] * 1e6:.0f} µs -> "
               f"{'met' if p99_1t_ok else 'NOT met'}.")
    out.append(f"- RSS <= 64 MB with 100k names: {rss_mb:.1f} MB -> "
               f"{'met' if rss_mb <= 64 and r_e >= RSS_NAMES else 'NOT met'}.")
    out.append(f"- Failover, all {FAILOVER_NAMES} answered and p99 added latency <= 100 ms: "
               f"{'all answered' if fo_all else 'NOT all answered'}, p99 added "
               f"{fo_p99 * 1e3:.1f} ms -> {'met' if fo_all and fo_p99 <= 0.1 else 'NOT met'}.")
    print("\n".join(out))
    json.dump({"qps": qps, "lat": lat, "rss": rss, "failover": {
        "latencies": fo_vals, "rcodes": fo_rc, "baseline_p50": base_p50}},
        open(os.path.join(work, "results.json"), "w"), default=str)
    log(f"work dir: {work}")
    shutil.rmtree(work, ignore_errors=True) if os.environ.get("BENCH_KEEP") is None else None


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
