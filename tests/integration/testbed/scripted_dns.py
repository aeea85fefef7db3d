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
    Records: received (count), sources (set of (addr, port)), ports (the
    source port of each query, in order)."""

    def __init__(self, answer=None, rcode=None, delay=0.0, addr="127.0.0.1"):
        self.answer, self.rcode, self.delay = answer, rcode, delay
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
            if self.answer is None and self.rcode is None:
                continue
            if self.delay:
                threading.Timer(self.delay, self._reply, (data, peer)).start()
            else:
                self._reply(data, peer)

    def _reply(self, data, peer):
        import dns.message
        import dns.rrset
        r = dns.message.make_response(dns.message.from_wire(data))
        if self.rcode is not None:
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
