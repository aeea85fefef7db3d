"""A UDP DNS server on loopback that misbehaves exactly as a test needs:
never answers (a blackhole), answers every query with one A record or with
an rcode, optionally late. It records what reached it."""
import socket
import threading

POLL_SECONDS = 0.2


class ScriptedDNS:
    """answer=None and rcode=None: never answers (a blackholed upstream).
    answer="10.6.0.1": every query gets that A record (TTL 60).
    rcode=dns.rcode.SERVFAIL: every query gets that rcode, no records.
    delay: seconds before each answer.
    edns_rcode=dns.rcode.FORMERR: a server that does not speak EDNS: every
    query with an OPT record gets that rcode (question echoed, no OPT);
    queries without one are answered as above.
    Records: received (count), sources (set of (addr, port)), ports (the
    source port of each query, in order), asked (the (lower-case name,
    has EDNS) of each query, in order)."""

    def __init__(self, answer=None, rcode=None, delay=0.0, addr="127.0.0.1",
                 edns_rcode=None):
        self.answer, self.rcode, self.delay = answer, rcode, delay
        self.edns_rcode = edns_rcode
        self.asked = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.sock.settimeout(POLL_SECONDS)
        self.port = self.sock.getsockname()[1]
        self.server = f"{addr}:{self.port}"
        self.received = 0
        self.sources = set()
        self.ports = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += 1
            self.sources.add(peer)
            self.ports.append(peer[1])
            self.asked.append(self._question(data))
            if self.answer is None and self.rcode is None:
                continue
            if self.delay:
                threading.Timer(self.delay, self._reply, (data, peer)).start()
            else:
                self._reply(data, peer)

    @staticmethod
    def _question(data):
        """(lower-case name, has EDNS) of a query; (None, False) if it does
        not parse."""
        import dns.message
        try:
            q = dns.message.from_wire(data)
            return q.question[0].name.to_text().lower(), q.edns >= 0
        except Exception:
            return None, False

    def _reply(self, data, peer):
        import dns.message
        import dns.rrset
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        if self.edns_rcode is not None and q.edns >= 0:
            r.use_edns(False)
            r.set_rcode(self.edns_rcode)
        elif self.rcode is not None:
            r.set_rcode(self.rcode)
        else:
            r.answer.append(dns.rrset.from_text(r.question[0].name, 60, "IN",
                                                "A", self.answer))
        try:
            self.sock.sendto(r.to_wire(), peer)
        except OSError:
            pass

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


RCVBUF_BYTES = 4 * 1024 * 1024     # a whole burst of queries waits unread
ANSWER_TTL = 60


class CountingDNS:
    """Answers every A query with one A record (TTL 60; other types: an
    empty answer) after delay seconds, from one thread that reads every
    waiting query before it sends anything, and counts the queries in
    flight (received, not yet answered): max_outstanding overall,
    max_outstanding_by_source per client socket (addr, port); a nginx
    worker has its own resolver sockets, so with one "resolver" entry
    that is per worker. answer=None: never answers (every query stays in
    flight). Also: received, times (monotonic time of each query) and
    names (the name asked, in order)."""

    def __init__(self, answer="127.0.0.2", delay=0.0, addr="127.0.0.1"):
        import select
        self._select = select.select
        self.answer, self.delay = answer, delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None),
                    socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF_BYTES)
                break
            except OSError:
                continue
        self.sock.bind((addr, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server = f"{addr}:{self.port}"
        self.lock = threading.Lock()
        self.received = 0
        self.times = []
        self.names = []
        self.outstanding = 0
        self.max_outstanding = 0
        self.by_source = {}
        self.max_outstanding_by_source = {}
        self._due = []           # (due time, seq, reply bytes, peer)
        self._seq = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def reset_max(self):
        with self.lock:
            self.max_outstanding = self.outstanding
            self.max_outstanding_by_source = dict(self.by_source)

    @staticmethod
    def _qname(q):
        labels, i = [], 12
        while i < len(q) and q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
            i += q[i] + 1
        return ".".join(labels)

    def _reply_bytes(self, q):
        """The answer to query q (wire bytes), or None if q is malformed."""
        import struct
        if len(q) < 12:
            return None
        i = 12
        while i < len(q) and q[i] != 0:
            i += q[i] + 1
        if i + 5 > len(q):
            return None
        question = q[12:i + 5]
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        rd = q[2] & 0x01
        records = b""
        if qtype == 1:
            records = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ANSWER_TTL, 4)
                       + socket.inet_aton(self.answer))
        header = struct.pack("!HBBHHHH", struct.unpack("!H", q[:2])[0],
                             0x84 | rd, 0x80, 1, 1 if records else 0, 0, 0)
        return header + question + records

    def _run(self):
        import heapq
        import time
        while not self.stopping:
            # every query waiting in the buffer first: they are in flight
            while True:
                try:
                    data, peer = self.sock.recvfrom(4096)
                except BlockingIOError:
                    break
                except OSError:
                    return
                now = time.monotonic()
                with self.lock:
                    self.received += 1
                    self.times.append(now)
                    self.names.append(self._qname(data))
                    self.outstanding += 1
                    self.max_outstanding = max(self.max_outstanding,
                                               self.outstanding)
                    n = self.by_source.get(peer, 0) + 1
                    self.by_source[peer] = n
                    self.max_outstanding_by_source[peer] = max(
                        self.max_outstanding_by_source.get(peer, 0), n)
                if self.answer is None:
                    continue
                reply = self._reply_bytes(data)
                if reply is None:
                    continue
                self._seq += 1
                heapq.heappush(self._due, (now + self.delay, self._seq,
                                           reply, peer))
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, reply, peer = heapq.heappop(self._due)
                with self.lock:
                    self.outstanding -= 1
                    self.by_source[peer] -= 1
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass
            wait = POLL_SECONDS
            if self._due:
                wait = max(0.0, min(wait, self._due[0][0] - now))
            try:
                self._select([self.sock], [], [], wait)
            except (OSError, ValueError):
                return

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


PLAIN_UDP_LIMIT = 512          # RFC 1035 UDP payload without EDNS
MAX_MESSAGE = 65535
BIND_TRIES = 20
TCP_LEN_BYTES = 2              # RFC 1035 4.2.2 length prefix


class LargeAnswerDNS:
    """A loopback DNS server whose A answers are as large as a test needs:
    every A query gets `records` A records (10.7.x.y, TTL 60; 16 bytes
    each on the wire). Over UDP an answer larger than the client's limit
    (its EDNS size, else 512) goes out truncated (TC, no records), as a
    real server does; tcp=True also listens on TCP (same port) and answers
    whole there; tcp=False is a UDP-only server (a TCP connect is refused).
    edns_rcode=dns.rcode.FORMERR: a server without EDNS, as in ScriptedDNS.
    Records: asked (the (lower-case name, has EDNS, "udp"/"tcp") of each
    query, in order), udp_sizes (the byte length of each UDP answer sent)
    and tcp_connections (accepted)."""

    def __init__(self, records, tcp=True, addr="127.0.0.1", edns_rcode=None):
        self.records, self.edns_rcode = records, edns_rcode
        self.asked, self.udp_sizes = [], []
        self.tcp_connections = 0
        self.udp, self.tcp = self._bind(addr, tcp)
        self.udp.settimeout(POLL_SECONDS)
        self.port = self.udp.getsockname()[1]
        self.server = f"{addr}:{self.port}"
        if tcp:
            self.tcp.listen(8)
            self.tcp.settimeout(POLL_SECONDS)
        self.stopping = False
        self.threads = [threading.Thread(target=self._run_udp, daemon=True)]
        if tcp:
            self.threads.append(threading.Thread(target=self._run_tcp,
                                                 daemon=True))
        for t in self.threads:
            t.start()

    @staticmethod
    def _bind(addr, tcp):
        """A UDP socket, and a TCP one on the same free port if tcp."""
        for _ in range(BIND_TRIES):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((addr, 0))
            if not tcp:
                return udp, None
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind((addr, udp.getsockname()[1]))
                return udp, t
            except OSError:
                t.close()
                udp.close()
        raise OSError(f"no free UDP+TCP port on {addr}")

    def answer(self, data, limit=None):
        """The wire answer to query data, truncated to fit limit if given;
        also records the question."""
        import dns.flags
        import dns.message
        import dns.rdatatype
        import dns.rrset
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        if self.edns_rcode is not None and q.edns >= 0:
            r.use_edns(False)
            r.set_rcode(self.edns_rcode)
        elif q.question[0].rdtype == dns.rdatatype.A:
            addrs = [f"10.7.{i // 256}.{i % 256}" for i in range(self.records)]
            r.answer.append(dns.rrset.from_text(r.question[0].name, 60, "IN",
                                                "A", *addrs))
        wire = r.to_wire(max_size=MAX_MESSAGE)   # not the request's size
        if limit is not None:
            if len(wire) > max(limit, q.payload if q.edns >= 0 else 0):
                r.answer = []
                r.flags |= dns.flags.TC
                wire = r.to_wire()
        return q, wire

    def _run_udp(self):
        while not self.stopping:
            try:
                data, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q, wire = self.answer(data, PLAIN_UDP_LIMIT)
            except Exception:
                continue
            self.asked.append((q.question[0].name.to_text().lower(),
                               q.edns >= 0, "udp"))
            self.udp_sizes.append(len(wire))
            try:
                self.udp.sendto(wire, peer)
            except OSError:
                pass

    def _read_exact(self, conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _run_tcp(self):
        while not self.stopping:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.tcp_connections += 1
            conn.settimeout(2)
            try:
                while True:
                    head = self._read_exact(conn, TCP_LEN_BYTES)
                    if head is None:
                        break
                    data = self._read_exact(conn, int.from_bytes(head, "big"))
                    if data is None:
                        break
                    q, wire = self.answer(data)
                    self.asked.append((q.question[0].name.to_text().lower(),
                                       q.edns >= 0, "tcp"))
                    conn.sendall(len(wire).to_bytes(TCP_LEN_BYTES, "big") + wire)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(2)
        self.udp.close()
        if self.tcp:
            self.tcp.close()
