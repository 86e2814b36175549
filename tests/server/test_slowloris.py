"""Slowloris (issue 14, defect 3): 500 slow connections, from ten loopback
addresses, half of them trickling a header that never ends and half a body
that never ends, must not lock a legitimate client out; the server cuts each
slow connection at its deadline (--header-timeout, --body-timeout), limits
the connections one address may hold (--max-connections-per-address), and
closes a chunked body as soon as it grows past --max-body.

usage: test_slowloris.py INFERENCE_PROGRAM [--defaults]
  (fast) --header-timeout 4 --body-timeout 5, a 60-connection address limit;
  --defaults: the server's own defaults (10 s, 30 s, 128): CTest label slow.

Before the fix (one thread per connection, a cap of parallel+queue+256, a
120 s idle timeout reset by every byte, no per-address limit) the legitimate
request was refused while the slow connections held every place, and the
slow connections stayed open for as long as they trickled."""
import select
import selectors
import socket
import sys
import time

from serverlib import Checks, Server, curl

prog = sys.argv[1]
DEFAULTS = "--defaults" in sys.argv[2:]
T = Checks("server_slowloris" + ("_defaults" if DEFAULTS else ""))

N_SLOW = 500
N_ADDR = 10
HEADER_S, BODY_S, PER_ADDR = (10, 30, 128) if DEFAULTS else (4, 5, 60)
TRICKLE_S = 0.5  # one byte (or header line) this often: far below any idle timeout


def source_addresses(n):
    """127.0.0.2 .. 127.0.0.(n+1): Linux routes all of 127/8 to loopback."""
    out = []
    for i in range(2, 2 + n):
        a = f"127.0.0.{i}"
        try:
            s = socket.socket()
            s.bind((a, 0))
            s.close()
            out.append(a)
        except OSError:
            break
    return out


class Slow:
    """One slow client: a socket, what it trickles, and when the server cut it."""

    def __init__(self, port, src, kind):
        self.kind, self.cut_at, self.sent = kind, None, 0
        self.sock = socket.socket()
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.opened = time.monotonic()
        if kind == "header":
            # A request line and a header that never ends.
            self.sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                              .encode())
        else:
            # A complete header announcing a body that arrives a byte at a time.
            self.sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                               "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
                              .encode())
        self.sock.setblocking(False)

    def trickle(self):
        if self.cut_at is not None:
            return
        try:
            self.sock.send(b"X-Slow: 1\r\n" if self.kind == "header" else b" ")
            self.sent += 1
        except OSError:
            self.mark_cut()

    def mark_cut(self):
        if self.cut_at is None:
            self.cut_at = time.monotonic()

    def poll_closed(self):
        """Reads what the server sent; an end of stream or reset is a cut."""
        if self.cut_at is not None:
            return
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    self.mark_cut()
                    return
        except BlockingIOError:
            return
        except OSError:
            self.mark_cut()


def pump(slows, seconds):
    """Trickles every TRICKLE_S and notes cuts, for `seconds`."""
    end = time.monotonic() + seconds
    next_trickle = 0.0
    sel = selectors.DefaultSelector()
    for s in slows:
        if s.cut_at is None:
            sel.register(s.sock, selectors.EVENT_READ, s)
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_trickle:
            for s in slows:
                s.trickle()
            next_trickle = now + TRICKLE_S
        for key, _ in sel.select(timeout=0.05):
            key.data.poll_closed()
            if key.data.cut_at is not None:
                sel.unregister(key.fileobj)
        if all(s.cut_at is not None for s in slows):
            break
    sel.close()


def chat(url, timeout=60):
    t0 = time.monotonic()
    st, _, body = curl(url + "/v1/chat/completions",
                       {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4},
                       timeout=timeout)
    return st, time.monotonic() - t0, body


srcs = source_addresses(N_ADDR + 1)
if len(srcs) < N_ADDR + 1:
    print(f"SKIP: cannot bind {N_ADDR + 1} loopback source addresses (have {srcs})")
    sys.exit(77)

args = ["--parallel", "2", "--queue", "8", "--max-body", "4096"]
if not DEFAULTS:
    args += ["--header-timeout", str(HEADER_S), "--body-timeout", str(BODY_S),
             "--max-connections-per-address", str(PER_ADDR)]
with Server(prog, *args) as srv:
    port = srv.port
    # 1. 500 slow connections, 50 per address, alternating kinds.
    slows = []
    refused = 0
    for i in range(N_SLOW):
        try:
            slows.append(Slow(port, srcs[1 + i % N_ADDR], "header" if i % 2 == 0 else "body"))
        except OSError:
            refused += 1
    T.eq(refused, 0, "all 500 slow connections were accepted by the kernel")
    pump(slows, 0.5)
    still = sum(s.cut_at is None for s in slows)
    T.eq(still, len(slows), "the slow connections are held open before their deadline")

    # 2. A legitimate client (127.0.0.1) is served while they are all open.
    st, took, body = chat(srv.url)
    pump(slows, 0.0)
    open_after = sum(s.cut_at is None for s in slows)
    T.check(st == 200, "a legitimate chat request during the attack", f"{st} {body[:300]}")
    T.check(open_after >= N_SLOW * 0.9,
            "the legitimate request finished while the slow connections were still open",
            f"({open_after} open after {took:.2f} s)")
    st_h, _, _ = curl(srv.url + "/health", timeout=30)
    T.eq(st_h, 200, "GET /health during the attack")
    print(f"legitimate chat request: {took:.2f} s with {open_after} slow connections open")

    # 3. Every slow connection is cut at its deadline, none long before it.
    pump(slows, BODY_S + 5)
    for kind, limit in (("header", HEADER_S), ("body", BODY_S)):
        group = [s for s in slows if s.kind == kind]
        uncut = [s for s in group if s.cut_at is None]
        T.eq(len(uncut), 0, f"every slow {kind} was cut within its deadline + 5 s")
        ages = sorted(s.cut_at - s.opened for s in group if s.cut_at is not None)
        if ages:
            print(f"slow {kind} connections: cut after {ages[0]:.2f} .. {ages[-1]:.2f} s "
                  f"(deadline {limit} s; {sum(s.sent for s in group)} trickles sent)")
            T.check(ages[0] >= limit - 0.5, f"no slow {kind} was cut before its deadline",
                    f"(first after {ages[0]:.2f} s)")
            T.check(ages[-1] <= limit + 3, f"every slow {kind} was cut by its deadline + 3 s",
                    f"(last after {ages[-1]:.2f} s)")
    for s in slows:
        s.sock.close()

    # 4. One address holds at most PER_ADDR connections: the rest are closed
    #    at once, the first PER_ADDR live until the header deadline.
    extra = 20
    many = [Slow(port, srcs[0], "header") for _ in range(PER_ADDR + extra)]
    pump(many, 1.0)
    cut_early = sum(s.cut_at is not None for s in many)
    T.eq(cut_early, extra, f"{PER_ADDR + extra} connections from one address: "
         f"{extra} closed at once")
    st, _, body = chat(srv.url)
    T.check(st == 200, "another address is still served", f"{st} {body[:300]}")
    for s in many:
        s.sock.close()

    # 5. A chunked body that grows past --max-body (4096) closes the
    #    connection at once instead of being read and discarded.
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
    sent, closed_after = 0, None
    c.settimeout(5)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and sent < 64 * 1024 * 1024:
        try:
            c.sendall(chunk)
            sent += 1024
            if select.select([c], [], [], 0.01)[0] and c.recv(4096) == b"":
                closed_after = sent
                break
        except OSError:
            closed_after = sent
            break
    c.close()
    T.check(closed_after is not None and closed_after <= 64 * 1024,
            "a chunked body past --max-body closes the connection within 64 KiB",
            f"(closed after {closed_after} body bytes)")
    print(f"chunked body past --max-body 4096: connection closed after {closed_after} bytes sent")

    # 6. Afterwards the server serves normally and stops cleanly.
    st, _, body = chat(srv.url)
    T.check(st == 200, "a chat request after the attack", f"{st} {body[:300]}")
    srv.stop(T)
T.done()
