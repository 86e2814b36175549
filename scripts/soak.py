#!/usr/bin/python3
"""Soak test of `inference serve` (issue 14): the server on the bundled model
with 64 concurrent clients for 10 minutes (loopback only), a mix of
streaming and non-streaming chat and completions, clients that disconnect
mid-stream, malformed requests and idle connections.  Every valid request
must be answered completely; the server's resident memory at the end must
be within a few MB of its level after the first minute, and no file
descriptor may leak (the count once the clients are gone equals the count
before they came).

usage: scripts/soak.py INFERENCE_PROGRAM [--minutes 10] [--clients 64]
                       [--model models/brown-llama-8m] [--parallel 8]
Not part of the test suite (it runs for 10 minutes): a separate command.
Prints a figure line per minute and a summary; exits 1 on any failure,
leaked descriptor or RSS growth over --rss-slack-mb (8)."""
import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def proc_figures(pid):
    """(RSS in KiB, open descriptors, threads) of process pid."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def ok(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def fail(self, kind, why):
        with self.lock:
            self.counts["FAILED " + kind] = self.counts.get("FAILED " + kind, 0) + 1
            if len(self.failures) < 50:
                self.failures.append(f"{kind}: {why}")

    def total(self):
        with self.lock:
            return sum(v for k, v in self.counts.items() if not k.startswith("FAILED")), \
                sum(v for k, v in self.counts.items() if k.startswith("FAILED"))


PROMPTS = ["Hello", "Once upon a time", "The quick brown fox", "Tell me a story about a cat",
           "What is the capital of France?", "1 2 3 4 5", "A long time ago in a galaxy"]


def post(port, path, body, raw=None, ctype="application/json", timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else json.dumps(body).encode()
    c.request("POST", path, body=data, headers={"Content-Type": ctype})
    return c, c.getresponse()


def read_sse(resp):
    """The data payloads of an SSE response, read to its end."""
    events, buf = [], b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    events.append(line[6:].decode())
    return events


def one_request(port, rng, st):
    r = rng.random()
    chat = rng.random() < 0.6
    path = "/v1/chat/completions" if chat else "/v1/completions"
    prompt = rng.choice(PROMPTS)
    body = ({"messages": [{"role": "user", "content": prompt}]} if chat else {"prompt": prompt})
    body["max_tokens"] = rng.randint(4, 40)
    if rng.random() < 0.5:
        body["temperature"] = 0.8
        body["seed"] = rng.randint(0, 1 << 30)
    kind = ("chat" if chat else "completion")
    if r < 0.40:  # streaming, read to the end
        kind += " stream"
        body["stream"] = True
        c, resp = post(port, path, body)
        if resp.status != 200:
            st.fail(kind, f"status {resp.status}: {resp.read()[:200]!r}")
        else:
            ev = read_sse(resp)
            if not ev or ev[-1] != "[DONE]":
                st.fail(kind, f"stream without [DONE] ({len(ev)} events)")
            elif not any('"finish_reason":"' in e or '"finish_reason": "' in e for e in ev):
                st.fail(kind, "stream without a finish reason")
            else:
                st.ok(kind)
        c.close()
    elif r < 0.65:  # one JSON reply
        c, resp = post(port, path, body)
        data = resp.read()
        c.close()
        try:
            o = json.loads(data)
            good = resp.status == 200 and o["choices"][0]["finish_reason"] in ("stop", "length")
        except (ValueError, KeyError, IndexError, TypeError):
            good = False
        if good:
            st.ok(kind)
        else:
            st.fail(kind, f"status {resp.status}: {data[:200]!r}")
    elif r < 0.77:  # disconnect mid-stream
        kind += " disconnect"
        body["stream"] = True
        body["max_tokens"] = 200
        c, resp = post(port, path, body)
        if resp.status != 200:
            st.fail(kind, f"status {resp.status}")
        else:
            resp.read1(rng.randint(1, 400))
            st.ok(kind)
        c.sock.shutdown(socket.SHUT_RDWR) if c.sock else None
        c.close()
    elif r < 0.90:  # malformed requests: a 4xx each
        kind = "bad request"
        case = rng.randrange(6)
        if case == 0:
            c, resp = post(port, path, None, raw=b'{"messages": [')
        elif case == 1:
            c, resp = post(port, path, {"messages": "not a list", "prompt": 7})
        elif case == 2:
            c, resp = post(port, path, body, ctype="text/plain")
        elif case == 3:
            body["max_tokens"] = 10 ** 9
            c, resp = post(port, path, body)
        elif case == 4:
            c, resp = post(port, "/v1/nowhere", body)
        else:
            c, resp = post(port, path, None, raw=b"\xff\xfe" * 100)
        resp.read()
        c.close()
        if 400 <= resp.status < 500:
            st.ok(kind)
        else:
            st.fail(kind, f"case {case}: status {resp.status}")
    elif r < 0.95:  # small endpoints
        kind = "get"
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", rng.choice(["/health", "/v1/models", "/metrics"]))
        resp = c.getresponse()
        resp.read()
        c.close()
        if resp.status == 200:
            st.ok(kind)
        else:
            st.fail(kind, f"status {resp.status}")
    else:  # a connection that sends half a header and leaves
        kind = "abandoned header"
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(rng.random() * 0.5)
        s.close()
        st.ok(kind)


def client(port, seed, stop, st):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            one_request(port, rng, st)
        except (OSError, http.client.HTTPException) as e:
            st.fail("connection", repr(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("program")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "brown-llama-8m"))
    ap.add_argument("--rss-slack-mb", type=float, default=8)
    a = ap.parse_args()

    log = tempfile.NamedTemporaryFile(prefix="inf-soak-", suffix=".log", delete=False)
    srv = subprocess.Popen([a.program, "serve", "-m", a.model, "--port", "0",
                            "--parallel", str(a.parallel), "--queue", str(a.clients)],
                           stdout=log, stderr=subprocess.STDOUT)
    port = None
    for _ in range(1200):
        m = re.search(r"listening on http://[^ ]*:(\d+)", open(log.name).read())
        if m:
            port = int(m.group(1))
            break
        if srv.poll() is not None:
            break
        time.sleep(0.1)
    if not port:
        print("the server did not start:\n" + open(log.name).read())
        srv.kill()
        return 1
    pid = srv.pid
    time.sleep(1)
    base = proc_figures(pid)
    print(f"server pid {pid} port {port}; before the clients: RSS {base[0] / 1024:.1f} MB, "
          f"{base[1]} fds, {base[2]} threads; load average {os.getloadavg()[0]:.1f}", flush=True)

    st, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=client, args=(port, 1000 + i, stop, st), daemon=True)
               for i in range(a.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    minute1 = None
    next_report = 60.0
    end = a.minutes * 60
    while True:
        el = time.monotonic() - t0
        if el >= end or srv.poll() is not None:
            break
        if el >= next_report:
            fig = proc_figures(pid)
            if minute1 is None:
                minute1 = fig
            served, failed = st.total()
            print(f"minute {el / 60:4.1f}: served {served}, failed {failed}, RSS "
                  f"{fig[0] / 1024:.1f} MB, {fig[1]} fds, {fig[2]} threads, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            next_report += 60
        time.sleep(min(1.0, max(0.05, next_report - el)))
    stop.set()
    for t in threads:
        t.join(timeout=300)
    alive = srv.poll() is None
    time.sleep(12)  # kept-alive and abandoned connections reach their header deadline
    endfig = proc_figures(pid) if alive else (0, 0, 0)
    if minute1 is None:
        minute1 = endfig
    served, failed = st.total()
    if alive:
        srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(timeout=60)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = "hung"
    text = open(log.name, errors="replace").read()
    os.unlink(log.name)

    print(f"\nsoak: {a.clients} clients, {a.minutes:g} min, --parallel {a.parallel}")
    for k in sorted(st.counts):
        print(f"  {k:28s} {st.counts[k]}")
    print(f"requests served {served}, failures {failed}")
    print(f"RSS: minute 1 {minute1[0] / 1024:.1f} MB, end {endfig[0] / 1024:.1f} MB "
          f"(growth {(endfig[0] - minute1[0]) / 1024:+.1f} MB)")
    print(f"open fds: before clients {base[1]}, minute 1 {minute1[1]}, end (clients gone) "
          f"{endfig[1]}; threads: before {base[2]}, end {endfig[2]}")
    print(f"server exit status after SIGTERM: {rc}")
    for f in st.failures[:20]:
        print("  failure:", f)
    bad = []
    if not alive:
        bad.append("the server died:\n" + text[-2000:])
    if failed:
        bad.append(f"{failed} failed requests")
    if endfig[0] - minute1[0] > a.rss_slack_mb * 1024:
        bad.append("RSS grew")
    if endfig[1] != base[1]:
        bad.append("descriptors leaked")
    if rc != 0:
        bad.append(f"exit status {rc}")
    print("RESULT:", "PASS" if not bad else "FAIL (" + "; ".join(bad) + ")")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
