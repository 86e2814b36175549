"""Shared fixtures of the Python binding's tests (bindings/python).

CTest (tests/python/CMakeLists.txt) runs them with INFERENCE_LIBRARY set to
the library just built, PYTHONPATH to bindings/python and INF_CLI to the
inference program built beside it, so the binding's results can be
compared with the C program's on the same prompts."""
import json
import os
import subprocess
import sys

import pytest

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "bindings", "python"))

import inference  # noqa: E402

MODEL = os.path.join(SOURCE_DIR, "models", "brown-llama-8m")
GOLDEN = os.path.join(SOURCE_DIR, "tests", "fixtures", "golden", "brown.json")
CLI = os.environ.get("INF_CLI", "")


def golden_prompts():
    with open(GOLDEN, encoding="utf-8") as f:
        return [p for p in json.load(f)["prompts"] if p["weights"] == "bf16"]


def run_cli(*args, stdin=None):
    """Runs the inference program; returns stdout (bytes).  Skips the test
    when the program was not built."""
    if not CLI or not os.access(CLI, os.X_OK):
        pytest.skip("INF_CLI (the inference program) not given")
    r = subprocess.run([CLI, *args], input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, f"{args}: {r.stderr.decode(errors='replace')}"
    return r.stdout


def run_python(code, timeout=60, **extra_env):
    """Runs `code` in a fresh interpreter with the same package and
    library (and extra_env); returns the CompletedProcess (text)."""
    env = dict(os.environ, **extra_env)
    env["PYTHONPATH"] = os.path.join(SOURCE_DIR, "bindings", "python")
    return subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def pytest_configure(config):
    config.addinivalue_line("markers", "leak: the 1,000-cycle RSS test (CTest python_binding_leak)")


@pytest.fixture(scope="session")
def model():
    with inference.load(MODEL, parallel_slots=4) as m:
        yield m
