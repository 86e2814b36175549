#!/usr/bin/env python3
"""A scripted OpenAI-compatible server for the "openai" backend's unit test.

It replays canned completions whose behaviour the model name selects, so the
client's handling of streaming, retries, errors, cancellation and concurrency
can be checked exactly.  Listens on 127.0.0.1 (port 0 = any free port) and
prints the port on the first line of stdout.

  echo   streams REPLY one piece per chunk (max_tokens pieces at most),
         each chunk written in small fragments to exercise reassembly
  flaky  503 for the first 2 requests, then like echo
  down   always 500
  cut    2 pieces, then the connection is dropped mid-stream
  bad    400 with an OpenAI error object
  busy   429
  slow   a piece every 50 ms, up to max_tokens
Hostile servers (issue 14: the client's buffers must stay bounded); each
writes until the client hangs up:
  endless   an event stream of "data:" lines that never has the blank line
            ending the event
  longline  an event stream whose one "data:" line never ends
  flood     well-formed events of 1 MiB of text each, without end
  bigerror  HTTP 400 with an error body that never ends
  bigbody   HTTP 200 application/json (not a stream) that never ends
More hostile or broken servers (a clean error each, within the timeout):
  garbage    an event stream of bytes that are not JSON, then the end
  nested     a JSON body nested 100000 arrays deep
  badutf8    events whose text holds invalid UTF-8 (raw bytes, lone
             surrogate escapes), then a normal end
  wrongtypes events whose fields have the wrong types (choices a string,
             content a number, finish_reason an object), then the end
  headers    response headers that never end
  silent     reads the request and never answers
  drip       a valid stream, one byte every 200 ms, without end
  teapot     HTTP 418 with a body that is not JSON
  redirect   HTTP 302 to another address (not to be followed)
A prompt containing "FAIL" gets a 400 with any model.

It also stands in for llama.cpp's llama-server (the llama_cpp backend's
child process): `fake_openai.py -m FILE --port N --alias NAME ...` listens on
port N, serves GET /health ({"status":"ok"}) and GET /props, treats model
NAME like "echo", and reports its command line at GET /debug/argv.  Like
llama-server, it then requires `Authorization: Bearer $LLAMA_API_KEY` when
that variable is set (401 otherwise) on every path but /health and
/v1/health (as the llama.cpp that scripts/build-llama-cpp.sh builds; older
ones also left /models open) and /debug/* (GET /debug/key shows the key it
got).
$FAKE_LLAMA_MODE makes it an impostor instead: "noauth" accepts any request,
"otherkey" wants a key of its own, "health" answers /health with another
body.
GET /debug/last -> the last request (body + auth header), /debug/stats ->
request counts per model and the most requests seen in flight at once.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = ["The", " cat", " sat", " on", " the", " mat", " \u00e9t\u00e9", "."]
MODELS = ["echo", "flaky", "down", "cut", "bad", "busy", "slow",
          "endless", "longline", "flood", "bigerror", "bigbody",
          "garbage", "nested", "badutf8", "wrongtypes", "headers", "silent", "drip",
          "teapot", "redirect"]
BROKEN = ("garbage", "nested", "badutf8", "wrongtypes", "headers", "silent", "drip",
          "teapot", "redirect")

lock = threading.Lock()
counts = {}
in_flight = 0
max_in_flight = 0
last = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, message):
        self.send_json(code, {"error": {"message": message, "type": "test",
                                        "code": code}})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj, fragments=1):
        data = ("data: " + json.dumps(obj) + "\n\n").encode()
        step = max(1, len(data) // fragments)
        for i in range(0, len(data), step):
            self.chunk(data[i:i + step])

    def authorised(self):
        """llama-server's rule, when standing in for it (ALIAS set)."""
        if ALIAS is None or self.path.startswith("/debug/") or self.path in (
                "/health", "/v1/health"):
            return True
        mode = os.environ.get("FAKE_LLAMA_MODE", "")
        key = os.environ.get("LLAMA_API_KEY")
        if mode == "noauth":
            return True
        if mode == "otherkey":
            key = "not-the-key-you-gave-me"
        if not key or self.headers.get("Authorization", "") == "Bearer " + key:
            return True
        self.send_json(401, {"error": {"code": 401, "message": "Invalid API Key",
                                       "type": "authentication_error"}})
        return False

    def do_GET(self):
        global max_in_flight
        if not self.authorised():
            return
        if self.path == "/health":
            if ALIAS and os.environ.get("FAKE_LLAMA_MODE") == "health":
                self.send_json(200, {"healthy": True})
            else:
                self.send_json(200, {"status": "ok"})
        elif self.path == "/props" and ALIAS:
            self.send_json(200, {"total_slots": 1, "default_generation_settings": {}})
        elif self.path == "/debug/key":
            self.send_json(200, {"key": os.environ.get("LLAMA_API_KEY")})
        elif self.path == "/debug/argv":
            self.send_json(200, {"argv": sys.argv[1:]})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "test"} for m in MODELS]})
        elif self.path == "/debug/last":
            with lock:
                self.send_json(200, last)
        elif self.path == "/debug/stats":
            with lock:
                self.send_json(200, {"counts": counts,
                                     "max_in_flight": max_in_flight})
        elif self.path == "/debug/reset":
            with lock:
                counts.clear()
                max_in_flight = 0
            self.send_json(200, {})
        else:
            self.error(404, "no such path: " + self.path)

    def do_POST(self):
        global in_flight, max_in_flight
        n = int(self.headers.get("Content-Length", "0"))
        if not self.authorised():
            self.rfile.read(n)
            return
        body = json.loads(self.rfile.read(n) or b"{}")
        model = body.get("model", "")
        with lock:
            counts[model] = counts.get(model, 0) + 1
            count = counts[model]
            last.clear()
            last.update({"path": self.path, "body": body,
                         "auth": self.headers.get("Authorization", "")})
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
        try:
            self.complete(body, model, count)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with lock:
                in_flight -= 1

    def hostile(self, model, chat):
        """Writes without end (until the client hangs up)."""
        code = 400 if model == "bigerror" else 200
        ctype = "text/event-stream" if model in ("endless", "longline", "flood") \
            else "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        if model == "endless":
            line = b"data: " + b"x" * 4090 + b"\n"
            while True:
                self.chunk(line * 16)
        if model == "longline":
            self.chunk(b"data: ")
            while True:
                self.chunk(b"y" * 65536)
        if model == "flood":
            text = "z" * (1 << 20)
            c = {"index": 0, "delta": {"content": text}, "finish_reason": None} if chat \
                else {"index": 0, "text": text, "finish_reason": None}
            ev = ("data: " + json.dumps({"choices": [c]}) + "\n\n").encode()
            while True:
                self.chunk(ev)
        # bigerror, bigbody: a JSON object whose string never closes
        self.chunk(b'{"error": {"message": "' if model == "bigerror" else b'{"choices": [{"text": "')
        while True:
            self.chunk(b"w" * 65536)

    def broken(self, model, chat):
        """Misbehaves once, in the way the model name says."""
        self.close_connection = True
        if model == "silent":
            time.sleep(60)
            return
        if model == "headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            i = 0
            while True:
                self.wfile.write(b"X-Junk-%d: %s\r\n" % (i, b"j" * 1000))
                i += 1
        if model == "teapot":
            self.send_response(418)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>I'm a teapot</html>")
            return
        if model == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/v1/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if model == "nested":
            body = b'{"choices": ' + b"[" * 100000 + b"]" * 100000 + b"}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if model == "drip":
            ev = b'data: {"choices": [{"index": 0, "text": "a", "delta": {"content": "a"}, ' \
                 b'"finish_reason": null}]}\n\n'
            while True:
                for b in ev:
                    self.chunk(bytes([b]))
                    time.sleep(0.2)
        if model == "garbage":
            for _ in range(50):
                self.chunk(b"data: \x00\xff\xfe{not json at all]]\n\n")
        elif model == "badutf8":
            text = b'\xff\xfe ok \xc3'
            for raw in (b'"' + text + b'"', b'"\\udc00 lone \\ud800"'):
                c = (b'{"index": 0, "delta": {"content": ' + raw + b'}, "finish_reason": null}'
                     if chat else b'{"index": 0, "text": ' + raw + b', "finish_reason": null}')
                self.chunk(b'data: {"choices": [' + c + b']}\n\n')
        elif model == "wrongtypes":
            for ev in ({"choices": "not a list"}, {"choices": [7]},
                       {"choices": [{"index": 0, "delta": {"content": 42}, "text": 42,
                                     "finish_reason": {"x": 1}}]},
                       {"choices": [{"index": "zero", "delta": [], "text": None}]}):
                self.chunk(("data: " + json.dumps(ev) + "\n\n").encode())
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")

    def complete(self, body, model, count):
        chat = self.path == "/v1/chat/completions"
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self.error(404, "no such endpoint")
        if chat:
            prompt = " ".join(m["content"] for m in body.get("messages", []))
        else:
            prompt = body.get("prompt", "")
            if isinstance(prompt, list):
                prompt = " ".join(str(t) for t in prompt)
        if model == ALIAS:
            model = "echo"
        if model not in MODELS:
            return self.error(404, "model '%s' not found" % model)
        if "FAIL" in prompt:
            return self.error(400, "prompt contains FAIL")
        if model == "flaky" and count <= 2:
            return self.error(503, "warming up")
        if model == "down":
            return self.error(500, "backend exploded")
        if model == "bad":
            return self.error(400, "prompt too long")
        if model == "busy":
            return self.error(429, "too many requests")
        if model in ("endless", "longline", "flood", "bigerror", "bigbody"):
            return self.hostile(model, chat)
        if model in BROKEN:
            return self.broken(model, chat)
        max_tokens = int(body.get("max_tokens", 16))
        pieces = REPLY[:max_tokens] if model != "slow" else ["x"] * max_tokens
        finish = "length" if max_tokens <= len(REPLY) or model == "slow" else "stop"
        usage = {"prompt_tokens": len(prompt.split()),
                 "completion_tokens": len(pieces),
                 "total_tokens": len(prompt.split()) + len(pieces)}

        def choice(text, fin):
            if chat:
                return {"index": 0, "delta": {"content": text} if text else {},
                        "finish_reason": fin}
            return {"index": 0, "text": text, "finish_reason": fin}

        obj = "chat.completion.chunk" if chat else "text_completion"
        if not body.get("stream"):
            text = "".join(pieces)
            c = ({"index": 0, "message": {"role": "assistant", "content": text},
                  "finish_reason": finish} if chat else
                 {"index": 0, "text": text, "finish_reason": finish})
            return self.send_json(200, {"object": obj, "choices": [c],
                                        "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if chat:
            self.event({"object": obj, "choices": [
                {"index": 0, "delta": {"role": "assistant"},
                 "finish_reason": None}]})
        for i, p in enumerate(pieces):
            if model == "cut" and i == 2:
                self.wfile.flush()
                self.connection.shutdown(2)  # drop without the last chunk
                self.close_connection = True
                return
            if model == "slow":
                time.sleep(0.05)
            self.event({"object": obj, "choices": [choice(p, None)]},
                       fragments=3)
        self.chunk(b": a comment line\n\n")
        self.event({"object": obj, "choices": [choice("", finish)]})
        if body.get("stream_options", {}).get("include_usage"):
            self.event({"object": obj, "choices": [], "usage": usage})
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")


ALIAS = None


def main():
    global ALIAS
    args = sys.argv[1:]
    port = 0
    if "--port" in args:  # as llama-server
        port = int(args[args.index("--port") + 1])
    elif args:
        port = int(args[0])
    if "--alias" in args:
        ALIAS = args[args.index("--alias") + 1]
        MODELS.insert(0, ALIAS)
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
