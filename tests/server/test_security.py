"""Security checks of `inference serve` (issue 14): an empty API key is
refused at start-up rather than turning authentication off; cross-site
requests and DNS rebinding: POST bodies must be application/json (a web page
can send text/plain without a CORS preflight), Host and Origin must name
this server unless --cors-origin allows an origin, with CORS headers and
OPTIONS preflights for the origins it allows.

usage: test_security.py INFERENCE_PROGRAM"""
import json
import os
import re
import subprocess
import sys

from serverlib import MODEL, Checks, Server, curl

prog = sys.argv[1]
T = Checks("server_security")


def start_fails(args, env_extra, what, needle="empty"):
    """`inference serve ARGS` must exit at once with status 2 and one line
    naming the problem; a server that starts anyway is killed and fails."""
    env = dict(os.environ)
    env.pop("INFERENCE_API_KEY", None)
    env.update(env_extra)
    cmd = [prog, "serve", "-m", MODEL, "--port", "0", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=15, env=env)
    except subprocess.TimeoutExpired as e:  # it started and serves
        out = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        T.check(False, f"{what}: the server must refuse to start", out[-500:])
        return
    T.eq(p.returncode, 2, f"{what}: exit status")
    lines = p.stderr.strip().splitlines()
    T.eq(len(lines), 1, f"{what}: one line on stderr")
    T.check(needle in p.stderr and "API key" in p.stderr, f"{what}: message says '{needle}'",
            p.stderr)
    T.check("listening" not in p.stderr, f"{what}: never listened", p.stderr)


# 1. An empty key is an error, from the flag or from the environment (an
#    empty $INFERENCE_API_KEY is a mistake, not "unset").
start_fails(["--api-key", ""], {}, "--api-key ''")
start_fails(["--api-key="], {}, "--api-key=")
start_fails([], {"INFERENCE_API_KEY": ""}, "INFERENCE_API_KEY=")
# A key nobody could send (leading or trailing blanks, control characters).
start_fails(["--api-key", " k"], {}, "--api-key ' k'", "blank")
start_fails([], {"INFERENCE_API_KEY": "k\n"}, "INFERENCE_API_KEY='k\\n'", "control")
# The flag wins over the environment: a key given on the command line is
# used even when the environment variable is empty.
with Server(prog, "--api-key", "k1", env={"INFERENCE_API_KEY": ""}) as s:
    T.check("API key required" in s.text(), "flag over empty env: key required", s.text())
    T.eq(curl(s.url + "/v1/models")[0], 401, "flag over empty env: no key, 401")
    T.eq(curl(s.url + "/v1/models", headers=["Authorization: Bearer k1"])[0], 200,
         "flag over empty env: the flag's key, 200")
    s.stop(T)
# A key from the environment is enforced.
with Server(prog, env={"INFERENCE_API_KEY": "envkey"}) as s:
    T.check("API key required" in s.text(), "env key: key required", s.text())
    T.eq(curl(s.url + "/v1/models")[0], 401, "env key: no key, 401")
    T.eq(curl(s.url + "/v1/models", headers=["Authorization: Bearer envkey"])[0], 200,
         "env key: right key, 200")
    s.stop(T)


# 2. Cross-site requests.  A page on another site can POST text/plain (a
#    "simple" request, no preflight) to the local server: refused.
GEN = {"prompt": "The jury said", "max_tokens": 2}


def post(url, ctype, body=GEN, headers=()):
    hs = list(headers)
    if ctype is not None:
        hs.append("Content-Type: " + ctype)
    else:
        hs.append("Content-Type:")  # curl: send none
    cmd = ["curl", "-sS", "-D", "-", "--max-time", "60", "-X", "POST"]
    for h in hs:
        cmd += ["-H", h]
    cmd += ["--data-binary", json.dumps(body), url]
    out = subprocess.run(cmd, capture_output=True, timeout=70).stdout.decode("utf-8", "replace")
    head, _, rest = out.partition("\r\n\r\n")
    m = re.match(r"HTTP/\S+ (\d+)", head)
    return (int(m.group(1)) if m else 0), head, rest


def code_of(body):
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def header(head, name):
    m = re.search(r"^" + re.escape(name) + r":\s*(.*?)\r?$", head, re.M | re.I)
    return m.group(1) if m else None


with Server(prog) as s:
    u = s.url
    port = s.port
    for ctype in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", None, "application/jsonx"):
        st, _, body = post(u + "/v1/completions", ctype)
        T.eq(st, 415, f"POST with Content-Type {ctype!r}: status")
        T.eq(code_of(body), "unsupported_media_type", f"POST with Content-Type {ctype!r}: code")
    st, _, body = post(u + "/v1/chat/completions", "text/plain",
                       {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    T.eq(st, 415, "chat POST text/plain: status")
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        st, _, _ = post(u + "/v1/completions", ctype)
        T.eq(st, 200, f"POST with Content-Type {ctype!r}: status")

    # DNS rebinding: a page of evil.example whose name now resolves to
    # 127.0.0.1 sends Host: evil.example:PORT.  Refused on every path.
    for path in ("/v1/models", "/health", "/metrics", "/"):
        st, _, body = curl(u + path, headers=[f"Host: evil.example:{port}"])
        T.eq(st, 403, f"GET {path} with a foreign Host: status")
        T.eq(code_of(body), "host_not_allowed", f"GET {path} with a foreign Host: code")
    st, _, _ = post(u + "/v1/completions", "application/json", headers=[f"Host: evil.example:{port}"])
    T.eq(st, 403, "POST with a foreign Host")
    st, _, _ = curl(u + "/v1/models", headers=[f"Host: localhost:{port + 1 if port < 65535 else 1}"])
    T.eq(st, 403, "Host with another port")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
        T.eq(curl(u + "/v1/models", headers=[f"Host: {host}"])[0], 200, f"Host {host}")

    # Origin: a page elsewhere is refused even with a proper JSON body (a
    # browser would have asked first; the server says no either way).
    st, head, body = post(u + "/v1/completions", "application/json",
                          headers=["Origin: http://evil.example"])
    T.eq(st, 403, "POST from a foreign Origin: status")
    T.eq(code_of(body), "origin_not_allowed", "POST from a foreign Origin: code")
    T.eq(header(head, "Access-Control-Allow-Origin"), None, "no CORS header for a foreign Origin")
    st, _, _ = curl(u + "/v1/models", headers=["Origin: null"])
    T.eq(st, 403, "Origin null (sandboxed frame, file://)")
    st, head, _ = curl(u + "/v1/chat/completions", method="OPTIONS",
                       headers=["Origin: http://evil.example", "Access-Control-Request-Method: POST",
                                "Access-Control-Request-Headers: content-type"])
    T.eq(st, 403, "preflight from a foreign Origin: status")
    T.eq(header(head, "Access-Control-Allow-Origin"), None, "preflight from a foreign Origin: no ACAO")
    # The server's own page (same origin) is fine.
    for origin, host in ((f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
                         (f"http://localhost:{port}", f"localhost:{port}")):
        st, _, _ = post(u + "/v1/completions", "application/json",
                        headers=[f"Origin: {origin}", f"Host: {host}"])
        T.eq(st, 200, f"POST from the same origin {origin}")
    st, _, _ = post(u + "/v1/completions", "application/json",
                    headers=[f"Origin: http://localhost:{port}", f"Host: 127.0.0.1:{port}"])
    T.eq(st, 403, "an Origin that is loopback but not this page's origin")
    s.stop(T)

# --cors-origin allows more origins: preflights answered, CORS headers on
# every reply to them; other origins still refused; with a key the
# preflight needs none (browsers send it without credentials).
APP = "http://app.example:3000"
with Server(prog, "--cors-origin", APP, "--cors-origin", "https://other.example",
            "--api-key", "k2") as s:
    u = s.url
    st, head, _ = curl(u + "/v1/chat/completions", method="OPTIONS",
                       headers=[f"Origin: {APP}", "Access-Control-Request-Method: POST",
                                "Access-Control-Request-Headers: authorization, content-type"])
    T.eq(st, 204, "preflight from an allowed origin: status")
    T.eq(header(head, "Access-Control-Allow-Origin"), APP, "preflight: ACAO")
    T.check("POST" in (header(head, "Access-Control-Allow-Methods") or ""), "preflight: methods", head)
    allow_h = (header(head, "Access-Control-Allow-Headers") or "").lower()
    T.check("authorization" in allow_h and "content-type" in allow_h, "preflight: headers", head)
    T.check("Origin" in (header(head, "Vary") or ""), "preflight: Vary: Origin", head)
    st, head, body = post(u + "/v1/completions", "application/json",
                          headers=[f"Origin: {APP}", "Authorization: Bearer k2"])
    T.eq(st, 200, "POST from an allowed origin")
    T.eq(header(head, "Access-Control-Allow-Origin"), APP, "POST from an allowed origin: ACAO")
    st, head, _ = post(u + "/v1/completions", "application/json",
                       headers=[f"Origin: {APP}", "Authorization: Bearer nope"])
    T.eq(st, 401, "allowed origin, wrong key")
    T.eq(header(head, "Access-Control-Allow-Origin"), APP, "401 carries ACAO (readable error)")
    st, head, _ = curl(u + "/v1/models", headers=["Origin: https://other.example",
                                                  "Authorization: Bearer k2"])
    T.eq(st, 200, "second --cors-origin")
    T.eq(header(head, "Access-Control-Allow-Origin"), "https://other.example", "second origin: ACAO")
    st, head, _ = curl(u + "/v1/models", headers=["Origin: http://app.example:3001",
                                                  "Authorization: Bearer k2"])
    T.eq(st, 403, "an origin not listed")
    T.eq(header(head, "Access-Control-Allow-Origin"), None, "an origin not listed: no ACAO")
    # With a key, Host is not restricted (a rebinding page cannot send it).
    st, _, _ = curl(u + "/v1/models", headers=["Host: my-box.lan:%d" % s.port,
                                               "Authorization: Bearer k2"])
    T.eq(st, 200, "with --api-key any Host may be used")
    s.stop(T)

# --cors-origin takes an origin: scheme://host[:port], "*" or "null".
for bad in ("app.example", "http://app.example/", "http://app.example/path", "ftp://x", ""):
    p = subprocess.run([prog, "serve", "-m", MODEL, "--port", "0", "--cors-origin", bad],
                       capture_output=True, text=True, timeout=15)
    T.eq(p.returncode, 2, f"--cors-origin {bad!r}: exit status")
    T.check("--cors-origin" in p.stderr, f"--cors-origin {bad!r}: message", p.stderr)

T.done()
