"""Process management for tests: start real daemons in their own process
group, wait until they are ready, stop them (the whole group), and keep
their output in a log file that is printed when a test fails.

Every child gets PR_SET_PDEATHSIG=SIGKILL, so if the test runner dies the
daemons die with it; nginx workers die with their master because the whole
process group is killed on stop.
"""
import ctypes
import os
import signal as _signal
import subprocess
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)

# The test runner stands in for the pod's pause process: processes
# orphaned by a killed daemon (an nginx master whose controller got
# SIGKILL) come back to us, not to this machine's init, which does not
# reap them; reap_orphans() waits for them so no zombie is left.
_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)

# Every Proc alive in this test session, so a session finalizer can make
# sure nothing is left running whatever happened to the fixtures.
LIVE = set()


def _child_setup():
    os.setpgrp()
    _libc.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL)


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2:].split()


def process_group(pid):
    """The process group of pid, from /proc (raises OSError if gone)."""
    return int(_stat_fields(pid)[2])


def kill_groups_of(marker):
    """SIGKILLs the process group of every process whose command line
    contains marker (bytes), e.g. an nginx master that the controller
    started in its own session (it outlives the controller by design) and,
    with it, its workers. Returns the groups killed."""
    groups = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker in f.read():
                    groups.add(process_group(d))
        except (OSError, ValueError, IndexError):
            continue
    groups.discard(os.getpgrp())
    for g in groups:
        try:
            os.killpg(g, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if groups:
        time.sleep(0.1)
    return groups


def reap_orphans():
    """Reaps our exited children that no Popen owns (orphans that were
    re-parented to us). Returns how many."""
    owned = {p.popen.pid for p in LIVE if p.popen is not None}
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in owned:
            continue
        try:
            fields = _stat_fields(d)
        except (OSError, ValueError):
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            try:
                os.waitpid(int(d), os.WNOHANG)
                n += 1
            except ChildProcessError:
                pass
    return n


def parent_pid(pid):
    """The parent of pid, from /proc (raises OSError if pid is gone)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def child_pids(ppid, marker=b""):
    """Live children of ppid whose command line contains marker, sorted."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmdline = f.read()
            if marker in cmdline and parent_pid(d) == ppid:
                out.append(int(d))
        except OSError:
            continue
    return sorted(out)


class ProcError(RuntimeError):
    pass


class Proc:
    def __init__(self, name, argv, cwd=None, env=None, log_dir=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.cwd = str(cwd) if cwd else None
        self.env = env
        self.log_dir = log_dir or "/tmp"
        self.log_path = os.path.join(self.log_dir, f"{name}.log")
        self.popen = None
        self._log = None

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def start(self, ready=None, timeout=10.0):
        """Starts the process; if ready is given, polls it until it returns
        true, failing (with the log) if the process exits or time runs out."""
        env = dict(os.environ)
        if self.env:
            env.update({k: str(v) for k, v in self.env.items()})
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_child_setup)
        LIVE.add(self)
        if ready is not None:
            self.wait_ready(ready, timeout)
        return self

    def wait_ready(self, ready, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ProcError(f"{self.name} exited with {self.popen.returncode}"
                                f" before it was ready:\n{self.log_text()}")
            try:
                if ready():
                    return
            except Exception:  # readiness probes may fail while starting
                pass
            if time.monotonic() > deadline:
                raise ProcError(f"{self.name} not ready after {timeout}s:\n"
                                f"{self.log_text()}")
            time.sleep(0.05)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def kill(self):
        """SIGKILL to the whole process group (the daemon and its children)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap(5)

    def stop(self, sig=_signal.SIGTERM, timeout=5.0):
        """Polite stop, then SIGKILL to the group. Returns the exit code."""
        if self.popen is None:
            return None
        if self.alive():
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever the main process did, its group (e.g. nginx workers) goes.
        try:
            os.killpg(self.popen.pid, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._reap(5)
        return self.popen.returncode

    def _reap(self, timeout):
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        LIVE.discard(self)
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self, tail=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-tail:].decode(errors="replace")


class ProcRegistry:
    """What the `procs` fixture hands a test: starts processes in the
    test's temporary folder and stops all of them at teardown."""

    def __init__(self, log_dir):
        self.log_dir = str(log_dir)
        self.procs = []

    def start(self, name, argv, ready=None, timeout=10.0, env=None, cwd=None):
        names = {p.name for p in self.procs}
        unique, i = name, 1
        while unique in names:
            i += 1
            unique = f"{name}-{i}"
        p = Proc(unique, argv, cwd=cwd, env=env, log_dir=self.log_dir)
        self.procs.append(p)
        p.start(ready=ready, timeout=timeout)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()
        # nginx runs in its own session and outlives a killed controller
        # by design: whatever still runs from this test's folder goes.
        kill_groups_of(os.fsencode(self.log_dir))
        reap_orphans()

    def logs(self):
        out = []
        for p in self.procs:
            out.append(f"----- {p.name}: {' '.join(p.argv)}\n{p.log_text()}")
        return "\n".join(out)
