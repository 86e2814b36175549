"""Helpers for the server tests: start `inference serve` on a free loopback
port, make requests with curl (the tests' HTTP client), count checks.

Every test takes the inference program as its first argument."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(SOURCE_DIR, "models", "brown-llama-8m")
GOLDEN = os.path.join(SOURCE_DIR, "tests", "fixtures", "golden", "brown.json")
CACHE = os.environ.get("INF_TEST_CACHE", os.path.join(SOURCE_DIR, ".cache"))
NPM_DIR = os.path.join(CACHE, "npm-server")
SKIP = 77  # CTest SKIP_RETURN_CODE for these tests


class Checks:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what} {detail}", file=sys.stderr, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, what, f"\n  got:      {got!r}\n  expected: {want!r}")

    def done(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


class Server:
    """`inference serve --port 0 ARGS` with the port read from its log."""

    def __init__(self, program, *args, model=MODEL, env=None):
        """env: variables to set (a value of None removes one)."""
        self.log = tempfile.NamedTemporaryFile(prefix="inf-serve-", suffix=".log", delete=False)
        cmd = [program, "serve", "-m", model, "--port", "0", *args]
        full_env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline:
            text = self.text()
            m = re.search(r"listening on http://[^ ]*:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early:\n" + text)
            time.sleep(0.05)
        if not self.port:
            self.proc.kill()
            raise RuntimeError("server did not start:\n" + self.text())
        self.url = f"http://127.0.0.1:{self.port}"

    def text(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, checks=None):
        """SIGTERM; the server must exit 0 promptly with a clean log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "hung"
        log = self.text()
        os.unlink(self.log.name)
        if checks:
            checks.eq(rc, 0, "server exit status after SIGTERM")
            bad = re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", log)
            checks.check(not bad, "no sanitizer report in the server log", log[-3000:])
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def curl(url, body=None, method=None, headers=(), stream=False, raw_body=None, timeout=300):
    """Runs curl; returns (status, headers_text, body_text)."""
    cmd = ["curl", "-sS", "-D", "-", "--max-time", str(timeout)]
    if stream:
        cmd.append("-N")
    if method:
        cmd += ["-X", method]
    for h in headers:
        cmd += ["-H", h]
    data = None
    if body is not None:
        data = json.dumps(body).encode()
    if raw_body is not None:
        data = raw_body
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    cmd.append(url)
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 10)
    out = p.stdout.decode("utf-8", errors="replace")
    head, _, rest = out.partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, rest = rest.partition("\r\n\r\n")
    m = re.match(r"HTTP/\S+ (\d+)", head)
    return (int(m.group(1)) if m else 0), head, rest


def sse_events(body):
    """The data payloads of an SSE body, in order."""
    out = []
    for block in body.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(line[6:])
    return out


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def npm_setup(extra=None):
    """Installs the pinned npm packages the Node tests use into the cache
    once; returns the node_modules path, or None when npm cannot fetch them
    (the caller then exits with SKIP).  extra: more {name: version} that
    this test needs (e.g. ajv for the structured-output test)."""
    mods = os.path.join(NPM_DIR, "node_modules")
    want = {"openai": "6.49.0", "selenium-webdriver": "4.46.0", **(extra or {})}

    def have():
        for name, ver in want.items():
            try:
                if json.load(open(os.path.join(mods, name, "package.json")))["version"] != ver:
                    return False
            except (OSError, ValueError, KeyError):
                return False
        return True

    if have():
        return mods
    os.makedirs(NPM_DIR, exist_ok=True)
    pkg = os.path.join(NPM_DIR, "package.json")
    if not os.path.exists(pkg):
        with open(pkg, "w") as f:
            f.write('{"name": "inf-server-tests", "private": true}\n')
    p = subprocess.run(["npm", "install", "--no-audit", "--no-fund"] +
                       [f"{n}@{v}" for n, v in want.items()], cwd=NPM_DIR)
    if p.returncode != 0 or not have():
        print("SKIP: npm could not install " + ", ".join(want), flush=True)
        return None
    return mods


def run_node(script, env_extra, mods, args=(), timeout=600):
    """Runs a CommonJS Node script (with args) and the cached node_modules;
    returns its exit status (its output goes to ours)."""
    env = dict(os.environ, NODE_PATH=mods, **env_extra)
    return subprocess.run(["node", script, *args], env=env, timeout=timeout).returncode
