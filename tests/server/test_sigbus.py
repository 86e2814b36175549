"""A weight file truncated or rewritten in place under a running server
(issue 14).  `inference serve` reads the weights into memory by default
(inf_load_options.copy_weights), so the server must go on answering
completely, with the same greedy text, while its model's safetensors files
are truncated to nothing, during a streaming request and between requests,
and then refilled with zeros in place.  The control: the same with --mmap
(the files mapped) ends the server with SIGBUS at the first request after
the truncation, which shows the test can see the failure it guards against.

usage: test_sigbus.py INFERENCE_PROGRAM"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from serverlib import MODEL, Checks, Server, curl, sse_events

prog = sys.argv[1]
T = Checks("server_sigbus")

PROMPT = {"prompt": "The jury said that", "max_tokens": 24, "temperature": 0}


def completion(s):
    st, _, body = curl(s.url + "/v1/completions", PROMPT, timeout=120)
    try:
        c = json.loads(body)["choices"][0]
        return st, c["text"], c["finish_reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        return st, None, body[-300:]


def model_copy():
    d = tempfile.mkdtemp(prefix="inf-sigbus-")
    m = os.path.join(d, "brown")
    shutil.copytree(MODEL, m)
    return d, m, sorted(glob.glob(os.path.join(m, "*.safetensors")))


def truncate_all(files):
    for f in files:
        os.truncate(f, 0)


def zero_fill(files, sizes):
    """The old size back, all zeros, written into the same inode."""
    for f, n in zip(files, sizes):
        with open(f, "r+b") as fh:
            fh.truncate(0)
            fh.write(b"\0" * n)


# 1. Copied weights (the default).
tmp, model, files = model_copy()
sizes = [os.path.getsize(f) for f in files]
T.check(len(files) == 2 and all(sizes), "the copy has the two weight shards", files)
with Server(prog, "--parallel", "2", model=model) as s:
    st, want, fin = completion(s)
    T.eq(st, 200, "before: status")
    T.check(want, "before: a completion", fin)
    # A stream in flight while the files are truncated: it must end with
    # [DONE] and all its tokens.
    body = dict(PROMPT, max_tokens=200, stream=True, ignore_eos=True)
    cmd = ["curl", "-sS", "-N", "--max-time", "120", "-H", "Content-Type: application/json",
           "--data-binary", json.dumps(body), s.url + "/v1/completions"]
    stream = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = stream.stdout.read(1)  # the stream has started
    truncate_all(files)
    T.check(all(os.path.getsize(f) == 0 for f in files), "files truncated to 0 bytes")
    rest, err = stream.communicate(timeout=150)
    events = sse_events((first + rest).decode("utf-8", "replace"))
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    n_text = sum(1 for c in chunks if c["choices"][0].get("text"))
    T.check(events and events[-1] == "[DONE]", "stream across the truncation ends with [DONE]",
            (err.decode()[-300:], events[-3:]))
    T.check(n_text >= 150, f"stream across the truncation: {n_text} text chunks (200 tokens)")
    T.eq(chunks[-1]["choices"][0].get("finish_reason") if chunks else None, "length",
         "stream across the truncation: finish_reason")
    # Requests after the truncation, then after the files are zeros.
    st, got, fin = completion(s)
    T.eq((st, got), (200, want), "after truncation: same greedy completion")
    zero_fill(files, sizes)
    st, got, fin = completion(s)
    T.eq((st, got), (200, want), "after a zero rewrite in place: same greedy completion")
    st, _, body = curl(s.url + "/v1/chat/completions",
                       {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8},
                       timeout=120)
    T.eq(st, 200, "after: chat status")
    T.check(s.proc.poll() is None, "the server is alive")
    print(f"copied weights: stream of {n_text} chunks across the truncation completed; "
          f"completions unchanged ({want!r}); server alive", flush=True)
    s.stop(T)
shutil.rmtree(tmp)

# 2. The control, --mmap: the first request after the truncation kills it.
tmp, model, files = model_copy()
with Server(prog, "--mmap", "--parallel", "2", model=model) as s:
    st, got, _ = completion(s)
    T.eq((st, got), (200, want), "--mmap before: same completion")
    truncate_all(files)
    st, _, _ = completion(s)
    try:
        rc = s.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    log = s.text()
    # AddressSanitizer catches the SIGBUS itself, reports "AddressSanitizer:
    # BUS on unknown address" and exits 1, or aborts with
    # ASAN_OPTIONS=abort_on_error=1 (scripts/test.sh sets it).
    died = rc == -signal.SIGBUS or (rc in (1, -signal.SIGABRT) and "AddressSanitizer: BUS" in log)
    T.check(died, "--mmap: truncation ends the server with SIGBUS (the failure the default "
            "mode prevents)", f"exit {rc}, request status {st}\n{log[-800:]}")
    print(f"--mmap control: request status {st}, server exit {rc}", flush=True)
    os.unlink(s.log.name)
shutil.rmtree(tmp)

T.done()
