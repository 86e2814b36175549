"""Security checks of `inference serve` (issue 14): an empty API key is
refused at start-up rather than turning authentication off.

usage: test_security.py INFERENCE_PROGRAM"""
import os
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

T.done()
